package solve

import (
	"cmp"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// job is one install request: the packages that may satisfy it.
type job struct {
	spec  string
	cands []int32 // ascending ids
}

// The NEVRA forms libdnf tries, in its order (HY_FORMS_MOST_SPEC):
// NEVRA, NA, NAME, NEVR, NEV.
const (
	nName    = `([^:(/=<> ]+)`
	nEpoch   = `(?:([0-9]+):)?`
	nVersion = `([^-:(/=<> ]+)`
	nArch    = `([^-:.(/=<> ]+)`
)

var specForms = []*regexp.Regexp{
	regexp.MustCompile(`^` + nName + `-` + nEpoch + nVersion + `-` + nVersion + `\.` + nArch + `$`),
	regexp.MustCompile(`^` + nName + `()()()\.` + nArch + `$`),
	regexp.MustCompile(`^` + nName + `()()()()$`),
	regexp.MustCompile(`^` + nName + `-` + nEpoch + nVersion + `-` + nVersion + `()$`),
	regexp.MustCompile(`^` + nName + `-` + nEpoch + nVersion + `()()$`),
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

func globMatch(pattern, s string) bool {
	if !isGlob(pattern) {
		return pattern == s
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// selectSpec turns a spec into jobs the way dnf's Base.install does with
// multilib_policy=best: the first NEVRA form that matches something wins,
// then provides, then files. A plain name also selects the packages that
// obsolete its newest versions; a name glob gives one job per name.
// A nil result means nothing matched.
func (u *universe) selectSpec(spec string) []job {
	spec = strings.TrimSpace(spec)
	for fi, re := range specForms {
		m := re.FindStringSubmatch(spec)
		if m == nil {
			continue
		}
		name, epoch, ver, rel, arch := m[1], m[2], m[3], m[4], m[5]
		var ids []int32
		pool := u.pkgs[1:]
		if !isGlob(name) {
			pool = pool[:0:0]
			for _, id := range u.byName[name] {
				pool = append(pool, u.pkgs[id])
			}
		}
		for _, q := range pool {
			p := q.p
			if !globMatch(name, p.Name) || arch != "" && !globMatch(arch, p.Arch) {
				continue
			}
			if epoch != "" {
				if e, err := strconv.ParseUint(epoch, 10, 32); err != nil || uint32(e) != p.EVR.Epoch {
					continue
				}
			}
			if ver != "" && !(globMatch(ver, p.EVR.Version) || !isGlob(ver) && version.Compare(ver, p.EVR.Version) == 0) {
				continue
			}
			if rel != "" && !(globMatch(rel, p.EVR.Release) || !isGlob(rel) && version.Compare(rel, p.EVR.Release) == 0) {
				continue
			}
			ids = append(ids, q.id)
		}
		if len(ids) == 0 {
			continue
		}
		justName := fi == 2
		if !isGlob(spec) {
			if justName {
				ids = append(ids, u.obsoletersOfLatest(ids)...)
			}
			return []job{{spec: spec, cands: sortedSet(ids)}}
		}
		// One job per name, as dnf builds one selector per name.
		byName := map[string][]int32{}
		for _, id := range ids {
			byName[u.pkgs[id].p.Name] = append(byName[u.pkgs[id].p.Name], id)
		}
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		slices.Sort(names)
		var jobs []job
		for _, n := range names {
			c := byName[n]
			if justName {
				c = append(c, u.obsoletersOfLatest(c)...)
			}
			jobs = append(jobs, job{spec: spec, cands: sortedSet(c)})
		}
		return jobs
	}
	d := dep{name: spec, text: spec}
	if f := strings.Fields(spec); len(f) == 3 {
		ops := map[string]repo.Flag{"=": repo.EQ, "==": repo.EQ, "<": repo.LT, "<=": repo.LE, ">": repo.GT, ">=": repo.GE}
		if op, ok := ops[f[1]]; ok {
			if v, err := version.Parse(f[2]); err == nil {
				d, _ = newDep(repo.Dep{Name: f[0], Flags: op, EVR: v})
			}
		}
	}
	if ids := u.whatProvides(d); len(ids) > 0 {
		return []job{{spec: spec, cands: ids}}
	}
	return nil
}

func sortedSet(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// obsoletersOfLatest returns the packages obsoleting the newest version
// per name and arch (from the best-priority repository) of ids, as dnf
// adds them to a plain-name install.
func (u *universe) obsoletersOfLatest(ids []int32) []int32 {
	type na struct{ name, arch string }
	best := map[na]*pkg{}
	for _, id := range ids {
		q := u.pkgs[id]
		k := na{q.p.Name, q.p.Arch}
		b := best[k]
		if b == nil || q.prio < b.prio || q.prio == b.prio && evrCompare(q.p.EVR, b.p.EVR) > 0 {
			best[k] = q
		}
	}
	latest := make([]*pkg, 0, len(best))
	for _, q := range best {
		latest = append(latest, q)
	}
	slices.SortFunc(latest, func(a, b *pkg) int { return cmp.Compare(a.id, b.id) })
	var out []int32
	for _, q := range u.pkgs[1:] {
		for _, d := range q.obsoletes {
			if d.rich != nil {
				continue
			}
			for _, l := range latest {
				if l.id != q.id && u.matchNEVR(l, d) {
					out = append(out, q.id)
				}
			}
		}
	}
	return out
}
