package solve

import "slices"

// resolveWeak is libsolv's resolve_weak: install what installed packages
// recommend and what supplements them. rerun is set when something was
// tried, so the caller resolves the new packages' dependencies and comes
// back.
func (s *solver) resolveWeak(lvl int32, rerun *bool) int32 {
	u := s.u
	var dq, dqs []int32
	for id := int32(1); id < int32(len(u.pkgs)); id++ {
		switch {
		case s.val[id] < 0:
			continue
		case s.val[id] > 0:
			for _, d := range u.pkgs[id].recommends {
				if d.rich != nil {
					dq = s.addComplexRecommends(d, dq, nil)
					continue
				}
				mark := len(dq)
				for _, p := range u.whatProvides(d) {
					if s.val[p] > 0 {
						dq = dq[:mark]
						break
					}
					if s.val[p] == 0 && !slices.Contains(dq, p) {
						dq = append(dq, p)
					}
				}
			}
		default:
			if s.added[id] && len(u.pkgs[id].supplements) > 0 && s.isSupplementing(id) {
				dqs = append(dqs, id)
			}
		}
	}
	for _, p := range dqs {
		if !slices.Contains(dq, p) {
			dq = append(dq, p)
		}
	}
	if len(dq) == 0 {
		return lvl
	}
	*rerun = true
	if len(dq) == 1 {
		return s.setPropagateLearn(lvl, dq[0], 0)
	}
	dq = s.policyFilter(dq, modeRecommend)
	inDQ := make(map[int32]bool, len(dq))
	for _, p := range dq {
		inDQ[p] = true
	}
	dqs = slices.DeleteFunc(dqs, func(p int32) bool { return !inDQ[p] })
	if len(dqs) > 1 {
		dqs = s.policyFilter(dqs, modeSupplement)
	}
	decided := len(s.trail)
	for _, p := range dqs {
		if s.val[p] != 0 {
			continue
		}
		old := lvl
		lvl = s.setPropagateLearn(lvl, p, 0)
		if lvl <= old {
			return lvl
		}
	}
	if len(s.trail) < decided {
		return lvl
	}
	for i := 0; i < decided; i++ {
		l := s.trail[i]
		if l < 0 {
			continue
		}
		for _, d := range u.pkgs[l].recommends {
			var cand []int32
			if d.rich != nil {
				cand = s.addComplexRecommends(d, nil, inDQ)
			} else {
				for _, p := range u.whatProvides(d) {
					if s.val[p] > 0 {
						cand = nil
						break
					}
					if s.val[p] == 0 && inDQ[p] {
						cand = append(cand, p)
					}
				}
			}
			if len(cand) == 0 {
				continue
			}
			if len(cand) > 1 {
				cand = s.policyFilter(cand, modeChoose)
			}
			if len(cand) > 1 {
				s.createBranch(lvl, cand)
			}
			old := lvl
			lvl = s.setPropagateLearn(lvl, cand[0], 0)
			if lvl < 0 || lvl <= old || len(s.trail) < decided {
				return lvl
			}
		}
	}
	return lvl
}

// addComplexRecommends appends the packages a rich recommends still asks
// for: the undecided positive literals of each clause whose conditions are
// installed and which no installed package satisfies yet.
func (s *solver) addComplexRecommends(d dep, dq []int32, only map[int32]bool) []int32 {
	c, err := s.u.toCNF(d.rich, false)
	if err != nil {
		return dq
	}
	start := len(dq)
clause:
	for _, cl := range c {
		mark := len(dq)
		for _, l := range cl {
			if l < 0 {
				if s.val[-l] <= 0 {
					continue clause
				}
				continue
			}
			if s.val[l] > 0 {
				dq = dq[:mark]
				continue clause
			}
			if s.val[l] < 0 || only != nil && !only[l] {
				continue
			}
			dq = append(dq, l)
		}
	}
	// Unify what this dependency added.
	out := dq[:start]
	for _, p := range dq[start:] {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
