package solve

import (
	"cmp"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/version"
)

// Policy modes of libsolv's policy_filter_unwanted.
type policyMode uint8

const (
	modeChoose          policyMode = iota // all pruning, then reordering
	modeRecommend                         // priority, arch, version only
	modeChooseNoReorder                   // all pruning, no reordering
	modeSupplement                        // reordering only
)

// policyFilter narrows and orders candidates the way libsolv's
// policy_filter_unwanted does; the first element is the one to install.
func (s *solver) policyFilter(dq []int32, mode policyMode) []int32 {
	if mode == modeSupplement {
		dq = s.dislikeOldVersions(dq)
		dq = s.sortByCommonDep(dq)
		return s.preferSuggested(dq)
	}
	if len(dq) > 1 {
		dq = s.pruneToHighestPrio(dq)
	}
	if len(dq) > 1 {
		dq = s.pruneToBestArch(dq)
	}
	if len(dq) > 1 {
		dq = s.pruneToBestVersion(dq)
	}
	if len(dq) > 1 && (mode == modeChoose || mode == modeChooseNoReorder) {
		dq = s.pruneToRecommended(dq)
		if len(dq) > 1 && mode == modeChoose {
			dq = s.dislikeOldVersions(dq)
			dq = s.sortByCommonDep(dq)
			dq = s.preferSuggested(dq)
		}
	}
	return dq
}

func (s *solver) pruneToHighestPrio(dq []int32) []int32 {
	best := s.u.pkgs[dq[0]].prio
	for _, id := range dq {
		best = min(best, s.u.pkgs[id].prio)
	}
	return slices.DeleteFunc(dq, func(id int32) bool { return s.u.pkgs[id].prio != best })
}

func (s *solver) pruneToBestArch(dq []int32) []int32 {
	var best uint32
	for _, id := range dq {
		if a := s.u.pkgs[id].arch; a > 1 && (best == 0 || a < best) {
			best = a
		}
	}
	if best == 0 {
		return dq
	}
	out := slices.DeleteFunc(slices.Clone(dq), func(id int32) bool {
		a := s.u.pkgs[id].arch
		return a != 1 && (a^best)&0xffff0000 != 0
	})
	if len(out) == 0 {
		return dq
	}
	return out
}

// pruneToBestVersion keeps the newest package of each name (names in
// strcmp order), then drops those obsoleted by another candidate.
func (s *solver) pruneToBestVersion(dq []int32) []int32 {
	u := s.u
	slices.SortFunc(dq, func(a, b int32) int {
		pa, pb := u.pkgs[a], u.pkgs[b]
		if c := strings.Compare(pa.p.Name, pb.p.Name); c != 0 {
			return c
		}
		if pa.arch != pb.arch && pa.arch > 1 && pb.arch > 1 {
			return cmp.Compare(pa.arch, pb.arch)
		}
		return cmp.Compare(a, b)
	})
	out := dq[:0]
	var best int32
	for _, id := range dq {
		if best == 0 {
			best = id
			continue
		}
		if u.pkgs[best].p.Name != u.pkgs[id].p.Name {
			out = append(out, best)
			best = id
			continue
		}
		if evrCompare(u.pkgs[best].p.EVR, u.pkgs[id].p.EVR) < 0 {
			best = id
		}
	}
	out = append(out, best)
	if len(out) > 1 {
		out = s.pruneObsoleted(out)
	}
	return out
}

// pruneObsoleted drops candidates obsoleted (by name and version) by a
// candidate of another name, keeping groups that obsolete each other
// unless something outside the group obsoletes them.
func (s *solver) pruneObsoleted(dq []int32) []int32 {
	u := s.u
	n := len(dq)
	pos := make(map[int32]int, n)
	for i, id := range dq {
		pos[id] = i
	}
	edges := make([][]int, n)
	any := false
	for i, id := range dq {
		q := u.pkgs[id]
		for _, o := range u.obsoleted(q) {
			if j, ok := pos[o]; ok && j != i && u.pkgs[o].p.Name != q.p.Name {
				edges[i] = append(edges[i], j)
				any = true
			}
		}
	}
	if !any {
		return dq
	}
	comp := sccs(edges)
	obsoleted := make([]bool, n)
	for i := range edges {
		for _, j := range edges[i] {
			if comp[i] != comp[j] {
				obsoleted[comp[j]] = true
			}
		}
	}
	out := dq[:0:0]
	for i, id := range dq {
		if !obsoleted[comp[i]] {
			out = append(out, id)
		}
	}
	return out
}

// sccs numbers the strongly connected components of a small graph.
func sccs(edges [][]int) []int {
	n := len(edges)
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, nc := 0, 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, w := range edges[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				comp[w] = nc
				if w == v {
					break
				}
			}
			nc++
		}
	}
	for v := range n {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comp
}

// updateRecommends folds the recommends and suggests of newly installed
// packages into recMap and sugMap (policy_update_recommendsmap).
func (s *solver) updateRecommends() {
	if s.recIdx < 0 {
		clear(s.recMap)
		clear(s.sugMap)
		s.recIdx = 0
	}
	for ; s.recIdx < len(s.trail); s.recIdx++ {
		l := s.trail[s.recIdx]
		if l < 0 {
			continue
		}
		q := s.u.pkgs[l]
		s.markWeak(q.recommends, s.recMap)
		s.markWeak(q.suggests, s.sugMap)
	}
}

func (s *solver) markWeak(ds []dep, m []bool) {
	for _, d := range ds {
		if d.rich == nil {
			for _, id := range s.u.whatProvides(d) {
				m[id] = true
			}
			continue
		}
		c, err := s.u.toCNF(d.rich, false)
		if err != nil {
			continue
		}
		// A block counts once its conditions are installed.
	clause:
		for _, cl := range c {
			for _, l := range cl {
				if l < 0 && !s.installed(-l) {
					continue clause
				}
			}
			for _, l := range cl {
				if l > 0 {
					m[l] = true
				}
			}
		}
	}
}

func (s *solver) depFulfilled(d dep) bool {
	if d.rich != nil {
		return s.u.evalRich(d.rich, s.installed)
	}
	for _, id := range s.u.whatProvides(d) {
		if s.installed(id) {
			return true
		}
	}
	return false
}

func (s *solver) isSupplementing(id int32) bool {
	for _, d := range s.u.pkgs[id].supplements {
		if s.depFulfilled(d) {
			return true
		}
	}
	return false
}

func (s *solver) isEnhancing(id int32) bool {
	for _, d := range s.u.pkgs[id].enhances {
		if s.depFulfilled(d) {
			return true
		}
	}
	return false
}

func (s *solver) pruneToRecommended(dq []int32) []int32 {
	s.updateRecommends()
	out := slices.DeleteFunc(slices.Clone(dq), func(id int32) bool {
		return !s.recMap[id] && !s.isSupplementing(id)
	})
	if len(out) == 0 {
		return dq
	}
	return out
}

// stablePartition moves the candidates bad reports to the back, keeping
// order within both groups.
func stablePartition(dq []int32, bad func(int32) bool) []int32 {
	good := make([]int32, 0, len(dq))
	var rest []int32
	for _, id := range dq {
		if bad(id) {
			rest = append(rest, id)
		} else {
			good = append(good, id)
		}
	}
	return append(good, rest...)
}

// dislikeOldVersions moves back candidates for which the repositories hold
// a newer (or better-priority) package of the same name and arch.
func (s *solver) dislikeOldVersions(dq []int32) []int32 {
	u := s.u
	return stablePartition(dq, func(id int32) bool {
		q := u.pkgs[id]
		for _, o := range u.byName[q.p.Name] {
			qo := u.pkgs[o]
			if o == id || qo.p.Arch != q.p.Arch {
				continue
			}
			if qo.prio != q.prio {
				if q.prio < qo.prio {
					continue
				}
				return true
			}
			if evrCompare(qo.p.EVR, q.p.EVR) > 0 {
				return true
			}
		}
		return false
	})
}

func (s *solver) preferSuggested(dq []int32) []int32 {
	s.updateRecommends()
	return stablePartition(dq, func(id int32) bool {
		return !s.sugMap[id] && !s.isEnhancing(id)
	})
}

// sortByCommonDep orders candidates that provide the same capability at
// different versions: the ones providing older versions go back
// (libsolv's sort_by_common_dep).
func (s *solver) sortByCommonDep(dq []int32) []int32 {
	type ent struct {
		idx  int
		name string
		evr  version.EVR
		noR  bool
		lt   bool
	}
	var ents []ent
	for i, id := range dq {
		q := s.u.pkgs[id]
		provs := q.provides
		hasSelf := false
		for _, d := range provs {
			if d.name == q.p.Name && d.rel == relEQ && evrCompare(d.evr, q.p.EVR) == 0 {
				hasSelf = true
			}
		}
		if !hasSelf {
			provs = append(slices.Clone(provs), q.selfEV)
		}
		for _, d := range provs {
			if d.rich != nil || (d.rel != relEQ && d.rel != relEQ|relLT && d.rel != relLT) {
				continue
			}
			if d.rel == relEQ && isHash(d.evr.String()) {
				continue
			}
			ents = append(ents, ent{i, d.name, d.evr, d.noRel, d.rel == relLT})
		}
	}
	if len(ents) < 2 {
		return dq
	}
	// cmpEnt is sort_by_name_evr_sortcmp: name, then EVR descending, an
	// "<" provide after an "=" of the same EVR.
	cmpEnt := func(a, b ent) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		r := evrMatchCmp(b.evr, b.noR, a.evr, a.noR)
		if r == 0 && (a.lt || b.lt) {
			if !b.lt {
				return 1
			}
			if !a.lt {
				return -1
			}
		}
		return r
	}
	slices.SortStableFunc(ents, func(a, b ent) int { return max(-1, min(1, cmpEnt(a, b))) })
	badness := make([]int, len(dq))
	havebad := false
	bad := 0
	for i, e := range ents {
		if i > 0 && ents[i-1].name == e.name {
			if ents[i-1].idx != e.idx && cmpEnt(ents[i-1], e) == -1 {
				bad++
				havebad = true
			}
		} else {
			bad = 0
		}
		badness[e.idx] += bad
	}
	if !havebad {
		return dq
	}
	type cb struct {
		id  int32
		bad int
	}
	cs := make([]cb, len(dq))
	for i, id := range dq {
		cs[i] = cb{id, badness[i]}
	}
	slices.SortStableFunc(cs, func(a, b cb) int { return cmp.Compare(a.bad, b.bad) })
	for i := range cs {
		dq[i] = cs[i].id
	}
	return dq
}

// isHash reports an EVR that looks like a hex digest (at least 4 hex
// digits), which sort_by_common_dep ignores.
func isHash(s string) bool {
	if len(s) < 4 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'f' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
