package repo_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// referencePrimary decodes primary.xml with encoding/xml, the obvious way:
// a second opinion for the hand-written scanner and the baseline of
// BenchmarkParsePrimary.
func referencePrimary(r io.Reader) ([]*repo.Package, error) {
	type entry struct {
		Name  string `xml:"name,attr"`
		Flags string `xml:"flags,attr"`
		Epoch string `xml:"epoch,attr"`
		Ver   string `xml:"ver,attr"`
		Rel   string `xml:"rel,attr"`
		Pre   string `xml:"pre,attr"`
	}
	type xpkg struct {
		Name    string `xml:"name"`
		Arch    string `xml:"arch"`
		Version struct {
			Epoch string `xml:"epoch,attr"`
			Ver   string `xml:"ver,attr"`
			Rel   string `xml:"rel,attr"`
		} `xml:"version"`
		Checksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"checksum"`
		Summary string `xml:"summary"`
		URL     string `xml:"url"`
		Time    struct {
			Build string `xml:"build,attr"`
		} `xml:"time"`
		Size struct {
			Package   string `xml:"package,attr"`
			Installed string `xml:"installed,attr"`
		} `xml:"size"`
		Location struct {
			Href string `xml:"href,attr"`
			Base string `xml:"http://www.w3.org/XML/1998/namespace base,attr"`
		} `xml:"location"`
		Format struct {
			License     string `xml:"license"`
			SourceRPM   string `xml:"sourcerpm"`
			HeaderRange struct {
				Start string `xml:"start,attr"`
				End   string `xml:"end,attr"`
			} `xml:"header-range"`
			Provides    []entry  `xml:"provides>entry"`
			Requires    []entry  `xml:"requires>entry"`
			Conflicts   []entry  `xml:"conflicts>entry"`
			Obsoletes   []entry  `xml:"obsoletes>entry"`
			Recommends  []entry  `xml:"recommends>entry"`
			Suggests    []entry  `xml:"suggests>entry"`
			Supplements []entry  `xml:"supplements>entry"`
			Enhances    []entry  `xml:"enhances>entry"`
			Files       []string `xml:"file"`
		} `xml:"format"`
	}
	num := func(s string) int64 {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	evr := func(e, v, r string) version.EVR {
		return version.EVR{Epoch: uint32(num(e)), Version: v, Release: r}
	}
	deps := func(es []entry) ([]repo.Dep, error) {
		var out []repo.Dep
		for _, e := range es {
			d := repo.Dep{Name: e.Name, EVR: evr(e.Epoch, e.Ver, e.Rel), Pre: e.Pre == "1" || e.Pre == "true"}
			switch e.Flags {
			case "":
			case "EQ":
				d.Flags = repo.EQ
			case "LT":
				d.Flags = repo.LT
			case "LE":
				d.Flags = repo.LE
			case "GT":
				d.Flags = repo.GT
			case "GE":
				d.Flags = repo.GE
			default:
				return nil, fmt.Errorf("bad flags %q", e.Flags)
			}
			out = append(out, d)
		}
		return out, nil
	}
	dec := xml.NewDecoder(r)
	var out []*repo.Package
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "package" {
			continue
		}
		var x xpkg
		if err := dec.DecodeElement(&x, &se); err != nil {
			return nil, err
		}
		if x.Arch == "src" || x.Arch == "nosrc" {
			continue
		}
		p := &repo.Package{
			Name: x.Name, Arch: x.Arch, EVR: evr(x.Version.Epoch, x.Version.Ver, x.Version.Rel),
			Checksum:      repo.Checksum{Type: x.Checksum.Type, Value: strings.ToLower(x.Checksum.Value)},
			Summary:       x.Summary,
			URL:           x.URL,
			License:       x.Format.License,
			Location:      x.Location.Href,
			LocationBase:  x.Location.Base,
			Size:          num(x.Size.Package),
			InstalledSize: num(x.Size.Installed),
			BuildTime:     num(x.Time.Build),
			SourceRPM:     x.Format.SourceRPM,
			HeaderStart:   num(x.Format.HeaderRange.Start),
			HeaderEnd:     num(x.Format.HeaderRange.End),
			Files:         x.Format.Files,
		}
		for _, l := range []struct {
			dst *[]repo.Dep
			src []entry
		}{
			{&p.Provides, x.Format.Provides}, {&p.Requires, x.Format.Requires}, {&p.Conflicts, x.Format.Conflicts},
			{&p.Obsoletes, x.Format.Obsoletes}, {&p.Recommends, x.Format.Recommends}, {&p.Suggests, x.Format.Suggests},
			{&p.Supplements, x.Format.Supplements}, {&p.Enhances, x.Format.Enhances},
		} {
			if *l.dst, err = deps(l.src); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
}
