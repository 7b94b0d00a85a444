package repo

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/version"
)

// ParsePrimary reads a decompressed primary.xml and calls each for every
// binary package in it, in document order; source packages (arch src and
// nosrc) are skipped. A non-nil error from each stops the parse and is
// returned. The Package handed to each is new and may be kept; its Repo
// field is empty.
//
// Strings that repeat across packages (dependency names and versions,
// arches, licenses) are interned, so a whole distribution's metadata stays
// small in memory.
func ParsePrimary(r io.Reader, each func(*Package) error) error {
	p := primaryParser{sc: newScanner(r), in: newInterner()}
	return p.parse(each)
}

type primaryParser struct {
	sc  *scanner
	in  *interner
	pkg *Package

	slab    []Package // packages are allocated in blocks
	depSlab []Dep     // so are their dependencies
	deps    []Dep     // the dependency list being read
}

func (p *primaryParser) parse(each func(*Package) error) error {
	sc := p.sc
	k, err := sc.next()
	if err != nil {
		return primaryErr(err)
	}
	if k != tokStart || string(sc.local()) != "metadata" {
		return fmt.Errorf("reading primary.xml: %w: root element is <%s>, want <metadata>", errSyntax, sc.name)
	}
	for {
		k, err := sc.next()
		if err != nil {
			return primaryErr(err)
		}
		if k == tokEnd {
			break // </metadata>
		}
		if string(sc.local()) != "package" {
			if err := sc.skip(); err != nil {
				return primaryErr(err)
			}
			continue
		}
		pkg, err := p.readPackage()
		if err != nil {
			if pkg != nil && pkg.Name != "" {
				return fmt.Errorf("reading primary.xml: package %s: %w", pkg.Name, err)
			}
			return primaryErr(err)
		}
		if pkg.Arch == "src" || pkg.Arch == "nosrc" {
			continue
		}
		if err := each(pkg); err != nil {
			return err
		}
	}
	// Only whitespace, comments or processing instructions may follow.
	if k, err := sc.next(); err != io.EOF {
		if err != nil {
			return primaryErr(err)
		}
		if k == tokStart {
			return primaryErr(sc.errorf("element <%s> after the root element", sc.name))
		}
	}
	return nil
}

func primaryErr(err error) error {
	if err == io.EOF {
		err = fmt.Errorf("%w: unexpected end of input", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("reading primary.xml: %w", err)
}

func (p *primaryParser) newPackage() *Package {
	if len(p.slab) == 0 {
		p.slab = make([]Package, 256)
	}
	pkg := &p.slab[0]
	p.slab = p.slab[1:]
	return pkg
}

// readPackage reads the children of <package> up to its end tag.
func (p *primaryParser) readPackage() (*Package, error) {
	sc := p.sc
	pkg := p.newPackage()
	p.pkg = pkg
	for {
		k, err := sc.next()
		if err != nil {
			return pkg, err
		}
		if k == tokEnd {
			break
		}
		switch string(sc.local()) {
		case "name":
			pkg.Name, err = p.internText()
		case "arch":
			pkg.Arch, err = p.internText()
		case "version":
			pkg.EVR, err = p.evrAttrs()
			if err == nil {
				err = sc.skip()
			}
		case "checksum":
			pkg.Checksum.Type = p.internAttr("type")
			var b []byte
			b, err = sc.text()
			pkg.Checksum.Value = strings.ToLower(string(b))
		case "summary":
			pkg.Summary, err = p.plainText()
		case "url":
			pkg.URL, err = p.plainText()
		case "time":
			pkg.BuildTime, err = p.intAttr("build")
			if err == nil {
				err = sc.skip()
			}
		case "size":
			pkg.Size, err = p.intAttr("package")
			if err == nil {
				pkg.InstalledSize, err = p.intAttr("installed")
			}
			if err == nil {
				err = sc.skip()
			}
		case "location":
			if b, ok := sc.attr("href"); ok {
				pkg.Location = string(b)
			}
			if b, ok := sc.attr("xml:base"); ok {
				pkg.LocationBase = string(b)
			}
			err = sc.skip()
		case "format":
			err = p.readFormat()
		default:
			err = sc.skip()
		}
		if err != nil {
			return pkg, err
		}
	}
	if pkg.Name == "" {
		return pkg, errors.New("package without a name")
	}
	if pkg.Arch == "" {
		return pkg, errors.New("package without an arch")
	}
	if pkg.EVR.Version == "" {
		return pkg, errors.New("package without a version")
	}
	return pkg, nil
}

func (p *primaryParser) readFormat() error {
	sc := p.sc
	pkg := p.pkg
	for {
		k, err := sc.next()
		if err != nil {
			return err
		}
		if k == tokEnd {
			return nil
		}
		var deps *[]Dep
		switch string(sc.local()) {
		case "license":
			pkg.License, err = p.internText()
		case "sourcerpm":
			pkg.SourceRPM, err = p.plainText()
		case "header-range":
			pkg.HeaderStart, err = p.intAttr("start")
			if err == nil {
				pkg.HeaderEnd, err = p.intAttr("end")
			}
			if err == nil {
				err = sc.skip()
			}
		case "file":
			var b []byte
			b, err = sc.text()
			if err == nil {
				pkg.Files = append(pkg.Files, string(b))
			}
		case "provides":
			deps = &pkg.Provides
		case "requires":
			deps = &pkg.Requires
		case "conflicts":
			deps = &pkg.Conflicts
		case "obsoletes":
			deps = &pkg.Obsoletes
		case "recommends":
			deps = &pkg.Recommends
		case "suggests":
			deps = &pkg.Suggests
		case "supplements":
			deps = &pkg.Supplements
		case "enhances":
			deps = &pkg.Enhances
		default:
			err = sc.skip()
		}
		if err != nil {
			return err
		}
		if deps != nil {
			if err := p.readDeps(deps); err != nil {
				return err
			}
		}
	}
}

// readDeps reads <rpm:entry> children into *dst, appending when the list
// element repeats.
func (p *primaryParser) readDeps(dst *[]Dep) error {
	sc := p.sc
	what := string(sc.local())
	// A provide's name is mostly unique to its package; interning it would
	// only grow the table. Everything else repeats across packages.
	intern := what != "provides"
	p.deps = append(p.deps[:0], *dst...)
	for {
		k, err := sc.next()
		if err != nil {
			return err
		}
		if k == tokEnd {
			break
		}
		if string(sc.local()) != "entry" {
			if err := sc.skip(); err != nil {
				return err
			}
			continue
		}
		var d Dep
		if b, _ := sc.attr("name"); intern {
			d.Name = p.in.bytes(b)
		} else if len(b) > 0 {
			d.Name = string(b)
		}
		if d.Name == "" {
			return fmt.Errorf("%s entry without a name", what)
		}
		if f, ok := sc.attr("flags"); ok {
			d.Flags, ok = parseFlag(f)
			if !ok {
				return fmt.Errorf("%s %s: unknown flags %q", what, d.Name, truncate(f))
			}
		}
		if d.EVR, err = p.evrAttrs(); err != nil {
			return fmt.Errorf("%s %s: %w", what, d.Name, err)
		}
		if b, ok := sc.attr("pre"); ok {
			d.Pre = string(b) == "1" || string(b) == "true"
		}
		p.deps = append(p.deps, d)
		if err := sc.skip(); err != nil {
			return err
		}
	}
	*dst = p.keepDeps(p.deps)
	return nil
}

// keepDeps copies deps into the shared block, so a package's lists cost no
// allocation of their own.
func (p *primaryParser) keepDeps(deps []Dep) []Dep {
	if len(deps) == 0 {
		return nil
	}
	if len(deps) > cap(p.depSlab)-len(p.depSlab) {
		p.depSlab = make([]Dep, 0, max(4096, len(deps)))
	}
	start := len(p.depSlab)
	p.depSlab = append(p.depSlab, deps...)
	return p.depSlab[start:len(p.depSlab):len(p.depSlab)]
}

func parseFlag(b []byte) (Flag, bool) {
	switch string(b) {
	case "EQ":
		return EQ, true
	case "LT":
		return LT, true
	case "LE":
		return LE, true
	case "GT":
		return GT, true
	case "GE":
		return GE, true
	case "":
		return Any, true
	}
	return Any, false
}

// evrAttrs reads the epoch, ver and rel attributes of the current tag.
func (p *primaryParser) evrAttrs() (version.EVR, error) {
	return evrFromAttrs(p.sc, p.in)
}

func evrFromAttrs(sc *scanner, in *interner) (version.EVR, error) {
	var e version.EVR
	if b, ok := sc.attr("epoch"); ok && len(b) > 0 {
		n, err := parseUint(b, 1<<32-1)
		if err != nil {
			return e, fmt.Errorf("epoch %q: %w", truncate(b), err)
		}
		e.Epoch = uint32(n)
	}
	if b, ok := sc.attr("ver"); ok {
		e.Version = in.bytes(b)
	}
	if b, ok := sc.attr("rel"); ok {
		e.Release = in.bytes(b)
	}
	return e, nil
}

func (p *primaryParser) intAttr(name string) (int64, error) {
	b, ok := p.sc.attr(name)
	if !ok || len(b) == 0 {
		return 0, nil
	}
	n, err := parseUint(b, 1<<63-1)
	if err != nil {
		return 0, fmt.Errorf("<%s %s=%q>: %w", p.sc.name, name, truncate(b), err)
	}
	return int64(n), nil
}

func (p *primaryParser) internAttr(name string) string {
	b, _ := p.sc.attr(name)
	return p.in.bytes(b)
}

func (p *primaryParser) internText() (string, error) {
	b, err := p.sc.text()
	return p.in.bytes(b), err
}

func (p *primaryParser) plainText() (string, error) {
	b, err := p.sc.text()
	return string(b), err
}

// parseUint reads a decimal number no larger than limit. Surrounding
// spaces are allowed, as encoding/xml callers commonly trim them.
func parseUint(b []byte, limit uint64) (uint64, error) {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	b = trimSpace(b)
	if len(b) == 0 {
		return 0, errors.New("not a number")
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		if n > (limit-uint64(c-'0'))/10 {
			return 0, errors.New("number too large")
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

// interner hands out one string per distinct byte sequence. A small
// direct-mapped cache in front of the map catches the many repeats
// (common sonames, the package's own version) without hashing.
type interner struct {
	m     map[string]string
	cache [1 << 12]string
}

func newInterner() *interner { return &interner{m: make(map[string]string, 1024)} }

func (in *interner) bytes(b []byte) string {
	n := len(b)
	if n == 0 {
		return ""
	}
	h := (uint(n)*0x9e37 ^ uint(b[0])*0x2f1 ^ uint(b[n-1])*0x7f4b ^ uint(b[n/2])*0x13) & (1<<12 - 1)
	if c := in.cache[h]; c == string(b) {
		return c
	}
	s, ok := in.m[string(b)]
	if !ok {
		s = string(b)
		in.m[s] = s
	}
	in.cache[h] = s
	return s
}
