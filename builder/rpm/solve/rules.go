package solve

import (
	"slices"
	"strings"
)

// ruleKind says where a rule came from, for explanations.
type ruleKind uint8

const (
	rkNone            ruleKind = iota
	rkRequires                 // pkg requires dep: -pkg | providers...
	rkNothingProvides          // -pkg: nothing provides dep
	rkConflicts                // -pkg | -other
	rkObsoletes                // -pkg | -other
	rkSameName                 // -pkg | -other
	rkInfArch                  // -pkg: a better arch of the same name exists
	rkJob                      // one of the candidates of a request
	rkBest                     // one of the best candidates of a request
	rkLearnt
)

// rule is a clause. lits keeps libsolv's literal order (first literal p,
// then the rest); w holds the positions of the two watched literals.
type rule struct {
	lits  []int32
	dep   *dep
	pkg   int32
	other int32
	job   int32
	w     [2]int32
	kind  ruleKind
}

// addPkgRules creates the package rules for everything reachable from
// roots, the way libsolv's solver_addpkgrulesforsolvable does, then the
// rules of packages that may supplement or enhance them
// (solver_addpkgrulesforweak). It returns the set of packages reached.
func (s *solver) addPkgRules(roots []int32) error {
	u := s.u
	s.added = make([]bool, len(u.pkgs))
	work := slices.Clone(roots)
	visit := func() error {
		for len(work) > 0 {
			n := work[0]
			work = work[1:]
			if s.added[n] {
				continue
			}
			s.added[n] = true
			if err := s.rulesFor(n, &work); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(); err != nil {
		return err
	}
	// Supplementing/enhancing packages, to a fixpoint.
	var weak []int32
	for _, q := range u.pkgs[1:] {
		if len(q.supplements) > 0 || len(q.enhances) > 0 {
			weak = append(weak, q.id)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, id := range weak {
			if s.added[id] {
				continue
			}
			q := u.pkgs[id]
			possible := false
			for _, d := range append(slices.Clone(q.supplements), q.enhances...) {
				if s.depPossible(d) {
					possible = true
					break
				}
			}
			if !possible {
				continue
			}
			work = append(work, id)
			if err := visit(); err != nil {
				return err
			}
			changed = true
		}
	}
	return nil
}

// depPossible says whether some package already reached could satisfy d.
func (s *solver) depPossible(d dep) bool {
	if d.rich == nil {
		for _, id := range s.u.whatProvides(d) {
			if s.added[id] {
				return true
			}
		}
		return false
	}
	c, err := s.u.toCNF(d.rich, false)
	if err != nil {
		return false
	}
	// Possible when each clause could hold given the reached packages.
	for _, cl := range c {
		ok := false
		for _, l := range cl {
			if l < 0 || s.added[l] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *solver) push(r rule) {
	s.rules = append(s.rules, r)
}

// binary builds a two-literal rule with the smaller literal first, as
// solver_addrule normalizes them.
func binary(a, b int32) []int32 {
	if a > b {
		a, b = b, a
	}
	return []int32{a, b}
}

func (s *solver) rulesFor(n int32, work *[]int32) error {
	u := s.u
	q := u.pkgs[n]
	if err := u.parseDeps(q); err != nil {
		return err
	}
	for i := range q.requires {
		d := &q.requires[i]
		if strings.HasPrefix(d.name, "rpmlib(") && d.rich == nil {
			if !rpmlibSatisfied(*d) {
				return &MetadataError{Package: q.p.NEVRA(), Dep: d.text, Err: ErrUnknownRPMLib}
			}
			continue
		}
		if d.rich != nil {
			c, err := u.toCNF(d.rich, false)
			if err != nil {
				return &MetadataError{Package: q.p.NEVRA(), Dep: d.text, Err: err}
			}
			for _, cl := range c {
				if slices.Contains(cl, n) {
					continue // satisfied by the package itself
				}
				lits := append([]int32{-n}, slices.DeleteFunc(slices.Clone(cl), func(l int32) bool { return l == -n })...)
				kind := rkRequires
				if len(lits) == 1 {
					kind = rkNothingProvides
				}
				if len(lits) == 2 {
					lits = binary(lits[0], lits[1])
				}
				s.push(rule{lits: lits, kind: kind, pkg: n, dep: d})
				for _, l := range cl {
					if l > 0 {
						*work = append(*work, l)
					}
				}
			}
			continue
		}
		prov := u.whatProvides(*d)
		if len(prov) == 0 {
			if strings.HasPrefix(d.name, "/") {
				s.missingFile = true
			}
			s.push(rule{lits: []int32{-n}, kind: rkNothingProvides, pkg: n, dep: d})
			continue
		}
		if _, self := slices.BinarySearch(prov, n); self {
			continue
		}
		lits := append([]int32{-n}, prov...)
		if len(lits) == 2 {
			lits = binary(lits[0], lits[1])
		}
		s.push(rule{lits: lits, kind: rkRequires, pkg: n, dep: d})
		*work = append(*work, prov...)
	}
	for i := range q.conflicts {
		d := &q.conflicts[i]
		if d.rich != nil {
			c, err := u.toCNF(d.rich, true)
			if err != nil {
				return &MetadataError{Package: q.p.NEVRA(), Dep: d.text, Err: err}
			}
			for _, cl := range c {
				// A package never conflicts with itself; but a conflict
				// with something that always holds (an empty clause) makes
				// it uninstallable, as in libsolv.
				if len(cl) > 0 {
					cl = slices.DeleteFunc(slices.Clone(cl), func(l int32) bool { return l == -n })
					if len(cl) == 0 || slices.Contains(cl, n) {
						continue
					}
				}
				lits := append([]int32{-n}, cl...)
				if len(lits) == 2 {
					lits = binary(lits[0], lits[1])
				}
				s.push(rule{lits: lits, kind: rkConflicts, pkg: n, dep: d})
				for _, l := range cl {
					if l > 0 {
						*work = append(*work, l)
					}
				}
			}
			continue
		}
		for _, p := range u.whatProvides(*d) {
			if p == n {
				continue
			}
			s.push(rule{lits: binary(-n, -p), kind: rkConflicts, pkg: n, other: p, dep: d})
		}
	}
	for i := range q.obsoletes {
		d := &q.obsoletes[i]
		if d.rich != nil {
			continue
		}
		for _, p := range u.whatProvides(*d) {
			if p == n || !u.matchNEVR(u.pkgs[p], *d) {
				continue
			}
			s.push(rule{lits: binary(-n, -p), kind: rkObsoletes, pkg: n, other: p, dep: d})
		}
	}
	// Same-name rules (-n | -p for every other package named alike) are
	// not stored up front: there are n² of them for a name with many
	// versions. propagate enforces them and materializes the ones it uses.
	for _, ds := range [][]dep{q.recommends, q.suggests} {
		for _, d := range ds {
			*work = append(*work, s.positives(d)...)
		}
	}
	return nil
}

// positives returns the packages that could satisfy d (for rich
// dependencies, those appearing positively).
func (s *solver) positives(d dep) []int32 {
	if d.rich == nil {
		return s.u.whatProvides(d)
	}
	c, err := s.u.toCNF(d.rich, false)
	if err != nil {
		return nil
	}
	var out []int32
	for _, cl := range c {
		for _, l := range cl {
			if l > 0 {
				out = append(out, l)
			}
		}
	}
	return out
}

// ruleCmp is libsolv's unifyrules_sortcmp.
func ruleCmp(a, b []int32) int {
	if a[0] != b[0] {
		return int(a[0] - b[0])
	}
	aw2, bw2 := int32(0), int32(0)
	if len(a) > 1 {
		aw2 = a[1]
	}
	if len(b) > 1 {
		bw2 = b[1]
	}
	ad, bd := len(a) <= 2, len(b) <= 2
	switch {
	case ad && bd:
		return int(aw2 - bw2)
	case ad:
		if x := aw2 - b[1]; x != 0 {
			return int(x)
		}
		return -1
	case bd:
		if x := a[1] - bw2; x != 0 {
			return int(x)
		}
		return 1
	}
	i := 1
	for ; i < len(b); i++ {
		if i >= len(a) {
			return int(0 - b[i])
		}
		if x := a[i] - b[i]; x != 0 {
			return int(x)
		}
	}
	if i < len(a) {
		return int(a[i])
	}
	return 0
}

// unifyPkgRules sorts the package rules and drops duplicates, as
// solver_unifyrules does; libsolv's decision order follows this order.
func (s *solver) unifyPkgRules() {
	// Sort indices, not the rules themselves: far less to move.
	idx := make([]int32, len(s.rules)-1)
	for i := range idx {
		idx[i] = int32(i + 1)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := ruleCmp(s.rules[a].lits, s.rules[b].lits); c != 0 {
			return c
		}
		return int(a - b)
	})
	out := make([]rule, 1, len(s.rules))
	for _, i := range idx {
		r := &s.rules[i]
		if len(out) > 1 && ruleCmp(out[len(out)-1].lits, r.lits) == 0 {
			continue
		}
		out = append(out, *r)
	}
	s.rules = out
}

// addInfArchRules forbids, per name, packages of an arch family other
// than the best one present (libsolv's infarch rules).
func (s *solver) addInfArchRules() {
	u := s.u
	done := map[string]bool{}
	for id := 1; id < len(u.pkgs); id++ {
		if !s.added[id] {
			continue
		}
		name := u.pkgs[id].p.Name
		if done[name] {
			continue
		}
		done[name] = true
		var best uint32
		for _, p := range u.byName[name] {
			a := u.pkgs[p].arch
			if s.added[p] && a > 1 && (best == 0 || a < best) {
				best = a
			}
		}
		if best == 0 {
			continue
		}
		for _, p := range u.byName[name] {
			a := u.pkgs[p].arch
			if s.added[p] && a != 1 && (a^best)&0xffff0000 != 0 {
				s.push(rule{lits: []int32{-p}, kind: rkInfArch, pkg: p})
			}
		}
	}
}
