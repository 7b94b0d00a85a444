package clusterimages

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Package is one installed package from dpkg's status file.
type Package struct {
	Name, Version, Architecture string
	// Depends holds Pre-Depends then Depends: each entry is a list of
	// alternatives, each a bare package name (versions and arch qualifiers
	// dropped: the tree holds exactly one installed version).
	Depends  [][]string
	Provides []string
}

// Status is the set of installed packages in a Debian root.
type Status struct {
	pkgs     map[string]*Package
	provider map[string][]string // virtual name -> installed packages providing it
}

// ParseStatus reads dpkg's status file (var/lib/dpkg/status); only
// packages whose state is "install ok installed" are kept.
func ParseStatus(r io.Reader) (*Status, error) {
	s := &Status{pkgs: map[string]*Package{}, provider: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	fields := map[string]string{}
	last := ""
	flush := func() error {
		defer clear(fields)
		name := fields["Package"]
		if name == "" || fields["Status"] != "install ok installed" {
			return nil
		}
		p := &Package{Name: name, Version: fields["Version"], Architecture: fields["Architecture"]}
		for _, f := range []string{"Pre-Depends", "Depends"} {
			for _, dep := range splitList(fields[f]) {
				var alts []string
				for _, a := range strings.Split(dep, "|") {
					if n := relationName(a); n != "" {
						alts = append(alts, n)
					}
				}
				if len(alts) > 0 {
					p.Depends = append(p.Depends, alts)
				}
			}
		}
		for _, v := range splitList(fields["Provides"]) {
			if n := relationName(v); n != "" {
				p.Provides = append(p.Provides, n)
				s.provider[n] = append(s.provider[n], name)
			}
		}
		if _, dup := s.pkgs[name]; dup {
			return fmt.Errorf("package %s is installed twice (several architectures are not supported)", name)
		}
		s.pkgs[name] = p
		return nil
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if err := flush(); err != nil {
				return nil, err
			}
			last = ""
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("dpkg status: malformed line %q", line)
			}
			last = k
			fields[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading dpkg status: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for _, ps := range s.provider {
		sort.Strings(ps)
	}
	return s, nil
}

// ReadStatus reads root/var/lib/dpkg/status.
func ReadStatus(root string) (*Status, error) {
	f, err := os.Open(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg database: %w", err)
	}
	defer f.Close()
	return ParseStatus(f)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// relationName is the package name of one relation, "libc6:any (>= 2.34)"
// -> "libc6".
func relationName(rel string) string {
	rel = strings.TrimSpace(rel)
	if i := strings.IndexAny(rel, " (["); i >= 0 {
		rel = rel[:i]
	}
	rel, _, _ = strings.Cut(rel, ":")
	return rel
}

// Package returns the installed package called name, or nil.
func (s *Status) Package(name string) *Package { return s.pkgs[name] }

// ErrNotInstalled is wrapped by Closure when a named package, or every
// alternative of a dependency, is missing from the tree.
var ErrNotInstalled = errors.New("not installed")

// Closure returns the named packages and everything they depend on
// (Depends and Pre-Depends, transitively), sorted by name. A name may be a
// list of alternatives, "busybox-static | busybox". Of a dependency's
// alternatives the first installed one is taken (a virtual name counts when
// an installed package provides it). A dependency any of whose
// alternatives is in skip is dropped with it: that is how packages only
// maintainer scripts need (debconf, adduser...) stay out of an image.
func (s *Status) Closure(names []string, skip map[string]bool) ([]*Package, error) {
	seen := map[string]*Package{}
	var visit func(alts []string, from string) error
	visit = func(alts []string, from string) error {
		for _, a := range alts {
			if skip[a] {
				return nil
			}
		}
		p := s.pick(alts)
		if p == nil {
			what := strings.Join(alts, " | ")
			if from != "" {
				return fmt.Errorf("%s (a dependency of %s): %w", what, from, ErrNotInstalled)
			}
			return fmt.Errorf("%s: %w", what, ErrNotInstalled)
		}
		if seen[p.Name] != nil {
			return nil
		}
		seen[p.Name] = p
		for _, d := range p.Depends {
			if err := visit(d, p.Name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		var alts []string
		for _, a := range strings.Split(n, "|") {
			alts = append(alts, strings.TrimSpace(a))
		}
		if err := visit(alts, ""); err != nil {
			return nil, err
		}
	}
	out := make([]*Package, 0, len(seen))
	for _, p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Status) pick(alts []string) *Package {
	for _, a := range alts {
		if p := s.pkgs[a]; p != nil {
			return p
		}
		if ps := s.provider[a]; len(ps) > 0 {
			return s.pkgs[ps[0]]
		}
	}
	return nil
}

// PackageFiles returns the paths dpkg lists for p in root
// (var/lib/dpkg/info/NAME.list, or NAME:ARCH.list for Multi-Arch: same
// packages), cleaned and absolute, in the order dpkg wrote them.
func PackageFiles(root string, p *Package) ([]string, error) {
	info := filepath.Join(root, "var/lib/dpkg/info")
	f, err := os.Open(filepath.Join(info, p.Name+".list"))
	if errors.Is(err, os.ErrNotExist) && p.Architecture != "" {
		f, err = os.Open(filepath.Join(info, p.Name+":"+p.Architecture+".list"))
	}
	if err != nil {
		return nil, fmt.Errorf("file list of %s: %w", p.Name, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && l != "/." {
			out = append(out, path.Clean("/"+l))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("file list of %s: %w", p.Name, err)
	}
	return out, nil
}
