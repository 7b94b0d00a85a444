package repo

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Repomd is a repository's index, repodata/repomd.xml: where each kind of
// metadata lives and the digests that tie them to this index.
type Repomd struct {
	Revision string
	Data     []RepomdData
}

// RepomdData is one <data> entry of repomd.xml.
type RepomdData struct {
	Type         string // "primary", "filelists", "other", "primary_db", ...
	Location     string // href, relative to the repository base URL
	LocationBase string // xml:base of the location, when set
	Checksum     Checksum
	OpenChecksum Checksum // of the decompressed file; empty when not compressed
	Size         int64    // compressed size; 0 when unknown
	OpenSize     int64    // decompressed size; 0 when unknown
	Timestamp    int64
}

// Find returns the entry of the given type.
func (m *Repomd) Find(typ string) (RepomdData, bool) {
	for _, d := range m.Data {
		if d.Type == typ {
			return d, true
		}
	}
	return RepomdData{}, false
}

// maxRepomdSize bounds repomd.xml: real ones are a few KiB.
const maxRepomdSize = 8 << 20

type xmlRepomd struct {
	XMLName  xml.Name `xml:"repomd"`
	Revision string   `xml:"revision"`
	Data     []struct {
		Type     string `xml:"type,attr"`
		Checksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"checksum"`
		OpenChecksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"open-checksum"`
		Location struct {
			Href string `xml:"href,attr"`
			Base string `xml:"http://www.w3.org/XML/1998/namespace base,attr"`
		} `xml:"location"`
		Timestamp string `xml:"timestamp"`
		Size      string `xml:"size"`
		OpenSize  string `xml:"open-size"`
	} `xml:"data"`
}

// ParseRepomd reads repomd.xml. Every entry must have a type, a location
// and a checksum of a known kind; repomd.xml larger than 8 MiB is refused.
func ParseRepomd(r io.Reader) (*Repomd, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRepomdSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading repomd.xml: %w", err)
	}
	if len(data) > maxRepomdSize {
		return nil, fmt.Errorf("reading repomd.xml: larger than %d bytes", maxRepomdSize)
	}
	var x xmlRepomd
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("reading repomd.xml: %w: %v", errSyntax, err)
	}
	m := &Repomd{Revision: strings.TrimSpace(x.Revision)}
	for i, d := range x.Data {
		rd := RepomdData{
			Type:         strings.TrimSpace(d.Type),
			Location:     d.Location.Href,
			LocationBase: d.Location.Base,
			Checksum:     Checksum{strings.TrimSpace(d.Checksum.Type), strings.ToLower(strings.TrimSpace(d.Checksum.Value))},
			OpenChecksum: Checksum{strings.TrimSpace(d.OpenChecksum.Type), strings.ToLower(strings.TrimSpace(d.OpenChecksum.Value))},
		}
		where := fmt.Sprintf("reading repomd.xml: data[%d] (type %q)", i, rd.Type)
		if rd.Type == "" {
			return nil, fmt.Errorf("%s: no type", where)
		}
		if rd.Location == "" {
			return nil, fmt.Errorf("%s: no location href", where)
		}
		if err := rd.Checksum.valid(); err != nil {
			return nil, fmt.Errorf("%s: checksum: %w", where, err)
		}
		if rd.OpenChecksum != (Checksum{}) {
			if err := rd.OpenChecksum.valid(); err != nil {
				return nil, fmt.Errorf("%s: open-checksum: %w", where, err)
			}
		}
		for _, f := range []struct {
			name string
			s    string
			dst  *int64
		}{{"timestamp", d.Timestamp, &rd.Timestamp}, {"size", d.Size, &rd.Size}, {"open-size", d.OpenSize, &rd.OpenSize}} {
			s := strings.TrimSpace(f.s)
			if s == "" {
				continue
			}
			// Some generators write fractional timestamps.
			if f.name == "timestamp" {
				s, _, _ = strings.Cut(s, ".")
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: %s %q is not a non-negative integer", where, f.name, f.s)
			}
			*f.dst = n
		}
		m.Data = append(m.Data, rd)
	}
	if len(m.Data) == 0 {
		return nil, errors.New("reading repomd.xml: no data entries")
	}
	return m, nil
}
