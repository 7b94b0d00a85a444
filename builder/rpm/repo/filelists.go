package repo

import (
	"fmt"
	"io"

	"github.com/kiln-build/kiln/builder/rpm/version"
)

// FileList is one <package> of filelists.xml: every path a package owns
// (files, directories and ghosts).
type FileList struct {
	PkgID string // the package's checksum, as in primary.xml
	Name  string
	Arch  string
	EVR   version.EVR
	Files []string
}

// ParseFilelists reads a decompressed filelists.xml and calls each for
// every package in it, source packages included. The FileList handed to
// each is new and may be kept.
func ParseFilelists(r io.Reader, each func(*FileList) error) error {
	sc := newScanner(r)
	in := newInterner()
	k, err := sc.next()
	if err != nil {
		return filelistsErr(err)
	}
	if k != tokStart || string(sc.local()) != "filelists" {
		return fmt.Errorf("reading filelists.xml: %w: root element is <%s>, want <filelists>", errSyntax, sc.name)
	}
	var (
		arena []byte // one package's paths, end to end
		ends  []int
	)
	for {
		k, err := sc.next()
		if err != nil {
			return filelistsErr(err)
		}
		if k == tokEnd {
			break
		}
		if string(sc.local()) != "package" {
			if err := sc.skip(); err != nil {
				return filelistsErr(err)
			}
			continue
		}
		fl := &FileList{}
		if b, ok := sc.attr("pkgid"); ok {
			fl.PkgID = lowerString(b)
		}
		if b, ok := sc.attr("name"); ok {
			fl.Name = in.bytes(b)
		}
		if b, ok := sc.attr("arch"); ok {
			fl.Arch = in.bytes(b)
		}
		if fl.PkgID == "" || fl.Name == "" {
			return filelistsErr(sc.errorf("package without pkgid or name"))
		}
		arena, ends = arena[:0], ends[:0]
		for {
			k, err := sc.next()
			if err != nil {
				return fmt.Errorf("reading filelists.xml: package %s: %w", fl.Name, err)
			}
			if k == tokEnd {
				break
			}
			switch string(sc.local()) {
			case "version":
				fl.EVR, err = evrFromAttrs(sc, in)
				if err == nil {
					err = sc.skip()
				}
			case "file":
				var b []byte
				b, err = sc.text()
				arena = append(arena, b...)
				ends = append(ends, len(arena))
			default:
				err = sc.skip()
			}
			if err != nil {
				return fmt.Errorf("reading filelists.xml: package %s: %w", fl.Name, err)
			}
		}
		// One string for all paths of a package: one allocation, not one
		// per file.
		all := string(arena)
		fl.Files = make([]string, len(ends))
		start := 0
		for i, e := range ends {
			fl.Files[i] = all[start:e]
			start = e
		}
		if err := each(fl); err != nil {
			return err
		}
	}
	return nil
}

func filelistsErr(err error) error {
	if err == io.EOF {
		err = fmt.Errorf("%w: unexpected end of input", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("reading filelists.xml: %w", err)
}

func lowerString(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}
