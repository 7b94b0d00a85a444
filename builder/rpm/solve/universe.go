package solve

import (
	"cmp"
	"path"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// libsolv's relation bits; repo.Flag values map onto them.
const (
	relGT = 1
	relEQ = 2
	relLT = 4
)

func relBits(f repo.Flag) int {
	switch f {
	case repo.EQ:
		return relEQ
	case repo.LT:
		return relLT
	case repo.LE:
		return relLT | relEQ
	case repo.GT:
		return relGT
	case repo.GE:
		return relGT | relEQ
	}
	return 0
}

// dep is a parsed dependency: a simple capability with an optional
// version relation, or a rich (boolean) expression.
type dep struct {
	name  string
	rel   int // relGT|relEQ|relLT bits; 0 = any version
	evr   version.EVR
	noRel bool // EVR had no release: matches any release
	rich  *richExpr
	text  string // as written, for messages
}

func newDep(d repo.Dep) (dep, error) {
	if strings.HasPrefix(d.Name, "(") && d.Flags == repo.Any {
		e, err := parseRich(d.Name)
		if err != nil {
			return dep{}, err
		}
		return dep{name: d.Name, rich: e, text: d.Name}, nil
	}
	return dep{name: d.Name, rel: relBits(d.Flags), evr: d.EVR, noRel: d.EVR.Release == "", text: d.String()}, nil
}

// pkg is one package of the universe with its dependencies parsed.
// Its id is its position in the canonical order, from 1, the way libsolv
// numbers solvables.
type pkg struct {
	p      *repo.Package
	id     int32
	prio   int    // the repository's dnf priority: lower wins
	arch   uint32 // libsolv arch score: 1 noarch, lower is better
	selfEV dep    // "name = E:V-R"

	provides, requires, conflicts, obsoletes    []dep
	recommends, suggests, supplements, enhances []dep
	parsed                                      bool // requires, conflicts, recommends, suggests are parsed
}

// universe indexes every installable package of every repository.
type universe struct {
	pkgs   []*pkg // index = id; pkgs[0] is nil
	byName map[string][]int32
	prov   map[string][]provEntry // capability name -> providers
	files  map[string][]int32     // built on first file dependency
	cache  map[string][]int32     // dependency text -> providers
	arch   map[string]uint32
}

type provEntry struct {
	id    int32
	rel   int
	evr   version.EVR
	noRel bool
}

// archScores reproduces libsolv's pool_setarchpolicy: each ':' starts a new
// colour (incompatible multilib family); noarch scores 1.
func archScores(arch string) map[string]uint32 {
	policies := map[string]string{
		"x86_64":  "x86_64:i686:i586:i486:i386",
		"i686":    "i686:i586:i486:i386",
		"i586":    "i586:i486:i386",
		"aarch64": "aarch64",
		"ppc64le": "ppc64le",
		"s390x":   "s390x:s390",
	}
	pol, ok := policies[arch]
	if !ok {
		pol = arch
	}
	m := map[string]uint32{"noarch": 1}
	score := uint32(0x10001)
	for i, a := range strings.Split(pol, ":") {
		if i > 0 {
			score += 0x10000
		}
		if _, seen := m[a]; !seen {
			m[a] = score
		}
	}
	return m
}

// newUniverse builds the universe from the repositories, dropping excluded
// packages and those whose arch cannot be installed on arch. Repositories
// are taken in name order and packages in (name, EVR, arch, location)
// order, whatever order the caller used.
func newUniverse(repos []Repo, exclude []string, arch string) (*universe, error) {
	u := &universe{
		pkgs:   []*pkg{nil},
		byName: map[string][]int32{},
		prov:   map[string][]provEntry{},
		cache:  map[string][]int32{},
		arch:   archScores(arch),
	}
	order := make([]int, len(repos))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(repos[a].Source.Name, repos[b].Source.Name)
	})
	for _, ri := range order {
		r := repos[ri]
		var list []*repo.Package
		for _, p := range r.Packages {
			if p == nil || u.arch[p.Arch] == 0 || excluded(p.Name, exclude) || excluded(p.Name, r.Source.Exclude) {
				continue
			}
			list = append(list, p)
		}
		slices.SortStableFunc(list, comparePackages)
		for _, p := range list {
			if err := u.add(p, r.Source.Priority); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

func excluded(name string, globs []string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok || g == name {
			return true
		}
	}
	return false
}

// comparePackages is the canonical package order.
func comparePackages(a, b *repo.Package) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := version.CompareEVR(a.EVR, b.EVR); c != 0 {
		return c
	}
	if c := cmp.Compare(a.EVR.String(), b.EVR.String()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Arch, b.Arch); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Repo, b.Repo); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Location, b.Location); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Checksum.Value, b.Checksum.Value); c != 0 {
		return c
	}
	// Same NEVRA, location and checksum (broken or synthetic metadata):
	// order by content so the input order still cannot leak through.
	return cmp.Compare(fingerprint(a), fingerprint(b))
}

func fingerprint(p *repo.Package) string {
	var b strings.Builder
	for _, ds := range [][]repo.Dep{p.Provides, p.Requires, p.Conflicts, p.Obsoletes, p.Recommends, p.Suggests, p.Supplements, p.Enhances} {
		for _, d := range ds {
			b.WriteString(d.String())
			if d.Pre {
				b.WriteString("(pre)")
			}
			b.WriteByte(0)
		}
		b.WriteByte(1)
	}
	for _, f := range p.Files {
		b.WriteString(f)
		b.WriteByte(0)
	}
	return b.String()
}

func (u *universe) add(p *repo.Package, prio int) error {
	q := &pkg{p: p, id: int32(len(u.pkgs)), prio: prio, arch: u.arch[p.Arch]}
	q.selfEV = dep{name: p.Name, rel: relEQ, evr: p.EVR, noRel: p.EVR.Release == ""}
	// Provides, obsoletes and reverse weak deps are needed across the
	// universe; the rest is parsed when the package is reached.
	var err error
	conv := convDeps(p, &err)
	q.provides = conv(p.Provides)
	q.obsoletes = conv(p.Obsoletes)
	q.supplements = conv(p.Supplements)
	q.enhances = conv(p.Enhances)
	if err != nil {
		return err
	}
	u.pkgs = append(u.pkgs, q)
	u.byName[p.Name] = append(u.byName[p.Name], q.id)
	self := false
	for _, d := range q.provides {
		if d.rich != nil {
			continue
		}
		if d.name == p.Name && d.rel == relEQ && version.CompareEVR(d.evr, p.EVR) == 0 && d.evr.Release == p.EVR.Release {
			self = true
		}
		u.prov[d.name] = append(u.prov[d.name], provEntry{q.id, d.rel, d.evr, d.noRel})
	}
	if !self {
		// libsolv adds the package's own "name = EVR" when the metadata
		// lacks it.
		u.prov[p.Name] = append(u.prov[p.Name], provEntry{q.id, relEQ, p.EVR, p.EVR.Release == ""})
	}
	return nil
}

func convDeps(p *repo.Package, err *error) func([]repo.Dep) []dep {
	return func(ds []repo.Dep) []dep {
		out := make([]dep, 0, len(ds))
		for _, d := range ds {
			x, e := newDep(d)
			if e != nil {
				if *err == nil {
					*err = &MetadataError{Package: p.NEVRA(), Dep: d.Name, Err: e}
				}
				continue
			}
			out = append(out, x)
		}
		return out
	}
}

// parseDeps parses the requires, conflicts, recommends and suggests of a
// package the solver has reached.
func (u *universe) parseDeps(q *pkg) error {
	if q.parsed {
		return nil
	}
	var err error
	conv := convDeps(q.p, &err)
	q.requires = conv(q.p.Requires)
	q.conflicts = conv(q.p.Conflicts)
	q.recommends = conv(q.p.Recommends)
	q.suggests = conv(q.p.Suggests)
	q.parsed = true
	return err
}

// evrMatchCmp is libsolv's pool_evrcmp in EVRCMP_MATCH_RELEASE mode: a
// missing epoch is 0, and when one side has no release it returns -2 (a
// has none) or 2 (b has none) if the versions are equal.
func evrMatchCmp(a version.EVR, aNoRel bool, b version.EVR, bNoRel bool) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := version.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	switch {
	case !aNoRel && !bNoRel:
		return version.Compare(a.Release, b.Release)
	case aNoRel && !bNoRel:
		return -2
	case !aNoRel && bNoRel:
		return 2
	}
	return 0
}

// relMatch is libsolv's pool_match_flags_evr: does a provide (prel, pevr)
// satisfy a dependency (rel, evr)?
func relMatch(prel int, pevr version.EVR, pNoRel bool, rel int, evr version.EVR, noRel bool) bool {
	if prel == 0 || rel == 0 {
		return false
	}
	if prel&rel&(relLT|relGT) != 0 {
		return true
	}
	switch evrMatchCmp(pevr, pNoRel, evr, noRel) {
	case -2:
		return prel&relEQ != 0
	case -1:
		return rel&relLT != 0 || prel&relGT != 0
	case 0:
		return rel&prel&relEQ != 0
	case 1:
		return rel&relGT != 0 || prel&relLT != 0
	case 2:
		return rel&relEQ != 0
	}
	return false
}

// whatProvides returns the ids of the packages satisfying a simple
// dependency, ascending. File paths are matched against package file lists
// as well as explicit provides.
func (u *universe) whatProvides(d dep) []int32 {
	key := d.text
	if key == "" {
		key = d.name
	}
	if ids, ok := u.cache[key]; ok {
		return ids
	}
	var ids []int32
	for _, e := range u.prov[d.name] {
		if d.rel == 0 || e.rel == 0 || relMatch(e.rel, e.evr, e.noRel, d.rel, d.evr, d.noRel) {
			ids = append(ids, e.id)
		}
	}
	if strings.HasPrefix(d.name, "/") && d.rel == 0 {
		if u.files == nil {
			u.indexFiles()
		}
		ids = append(ids, u.files[d.name]...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	u.cache[key] = ids
	return ids
}

func (u *universe) indexFiles() {
	u.files = map[string][]int32{}
	for _, q := range u.pkgs[1:] {
		for _, f := range q.p.Files {
			u.files[f] = append(u.files[f], q.id)
		}
	}
}

// reindexFiles forgets file providers after file lists were loaded.
func (u *universe) reindexFiles() {
	u.files = nil
	for k := range u.cache {
		if strings.HasPrefix(k, "/") {
			delete(u.cache, k)
		}
	}
}

// matchNEVR is libsolv's pool_match_nevr: does package q itself (by name
// and EVR, not by its provides) match d? Obsoletes are matched this way.
func (u *universe) matchNEVR(q *pkg, d dep) bool {
	if d.rich != nil || q.p.Name != d.name {
		return false
	}
	if d.rel == 0 {
		return true
	}
	return relMatch(relEQ, q.p.EVR, q.p.EVR.Release == "", d.rel, d.evr, d.noRel)
}

// obsoleted returns the packages q's obsoletes remove: those whose name
// and version match, other than q.
func (u *universe) obsoleted(q *pkg) []int32 {
	var out []int32
	for _, d := range q.obsoletes {
		if d.rich != nil {
			continue
		}
		for _, id := range u.whatProvides(d) {
			if id != q.id && u.matchNEVR(u.pkgs[id], d) {
				out = append(out, id)
			}
		}
	}
	return out
}
