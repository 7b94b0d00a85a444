package repo

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// excluder applies a repo's exclude globs the way dnf's excludepkgs does:
// a pattern hides a package when it matches the package's name or one of
// its NEVRA forms: NAME.ARCH, NAME-VERSION, NAME-VERSION-RELEASE,
// NAME-VERSION-RELEASE.ARCH, NAME-EPOCH:VERSION-RELEASE and
// NAME-EPOCH:VERSION-RELEASE.ARCH. Globs are shell globs: *, ? and [...].
type excluder struct {
	patterns []string
	literal  []string // each pattern's text before its first glob character
}

func newExcluder(patterns []string) (*excluder, error) {
	e := &excluder{}
	for i, p := range patterns {
		if p == "" {
			return nil, fmt.Errorf("exclude[%d]: empty pattern", i)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("exclude[%d]: %q is not a valid glob", i, p)
		}
		e.patterns = append(e.patterns, p)
		lit := p
		if j := strings.IndexAny(p, `*?[\`); j >= 0 {
			lit = p[:j]
		}
		e.literal = append(e.literal, lit)
	}
	return e, nil
}

func (e *excluder) excludes(p *Package) bool {
	for i, pat := range e.patterns {
		// Every form starts with the name: skip patterns whose literal
		// prefix rules the name out, without building the forms.
		lit := e.literal[i]
		if len(lit) <= len(p.Name) {
			if !strings.HasPrefix(p.Name, lit) {
				continue
			}
		} else if !strings.HasPrefix(lit, p.Name) {
			continue
		}
		for _, form := range nevraForms(p) {
			if ok, _ := path.Match(pat, form); ok {
				return true
			}
		}
	}
	return false
}

func nevraForms(p *Package) []string {
	nv := p.Name + "-" + p.EVR.Version
	nvr := nv + "-" + p.EVR.Release
	nevr := p.Name + "-" + strconv.FormatUint(uint64(p.EVR.Epoch), 10) + ":" + p.EVR.Version + "-" + p.EVR.Release
	return []string{p.Name, p.Name + "." + p.Arch, nv, nvr, nvr + "." + p.Arch, nevr, nevr + "." + p.Arch}
}
