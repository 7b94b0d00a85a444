package solve

import (
	"context"
	"slices"
)

// solver is one run of the CDCL search over the universe's package
// literals. It mirrors libsolv's solver_run_sat: assertions, then
// requests, then unresolved rules in rule order, then weak dependencies.
type solver struct {
	u    *universe
	weak bool

	rules            []rule // rules[0] is unused, as in libsolv
	jobStart, jobEnd int
	jobs             []job
	added            []bool
	missingFile      bool

	val     []int8  // +1 installed, -1 not installed, 0 undecided
	level   []int32 // decision level of each decided package
	reason  []int32 // rule that implied it; 0 for a free decision
	trail   []int32 // decided literals, in order (libsolv's decisionq)
	propIdx int
	watches [][]int32 // literal index -> rules watching that literal

	recIdx int // trail prefix already folded into recMap/sugMap
	recMap []bool
	sugMap []bool

	// branches are the choices made among several candidates, for
	// libsolv's auto-minimization.
	branches []branch

	learntWhy map[int32][]int32  // learnt rule -> the rules it came from
	sameName  map[[2]int32]int32 // materialized same-name rules

	failRule int32 // the rule that made the request unsatisfiable
	ctx      context.Context
}

// branch records a choice: alts[0] was taken (stored negated), the others
// are alternatives (negated once tried); level is the level before it.
type branch struct {
	alts  []int32
	level int32
}

func newSolver(u *universe, weak bool) *solver {
	n := len(u.pkgs)
	return &solver{
		u:       u,
		weak:    weak,
		rules:   []rule{{}},
		val:     make([]int8, n),
		level:   make([]int32, n),
		reason:  make([]int32, n),
		watches: make([][]int32, 2*n),
		recMap:  make([]bool, n),
		sugMap:  make([]bool, n),
	}
}

func litIdx(l int32) int {
	if l > 0 {
		return int(l) * 2
	}
	return int(-l)*2 + 1
}

func (s *solver) litVal(l int32) int8 {
	if l > 0 {
		return s.val[l]
	}
	return -s.val[-l]
}

func abs32(l int32) int32 {
	if l < 0 {
		return -l
	}
	return l
}

// installed reports a package decided installed.
func (s *solver) installed(id int32) bool { return s.val[id] > 0 }

// solve runs the whole resolution. missingFile reports that a file
// dependency found no provider, so loading file lists may help.
func (s *solver) solve(ctx context.Context, specs []string) (*Result, bool, error) {
	s.ctx = ctx
	var roots []int32
	for _, spec := range specs {
		js := s.u.selectSpec(spec)
		if js == nil {
			return nil, len(spec) > 0 && spec[0] == '/', &NoMatchError{Spec: spec}
		}
		for _, j := range js {
			s.jobs = append(s.jobs, j)
			roots = append(roots, j.cands...)
		}
	}
	if err := s.addPkgRules(roots); err != nil {
		return nil, false, err
	}
	s.unifyPkgRules()
	s.addInfArchRules()
	s.jobStart = len(s.rules)
	for i, j := range s.jobs {
		s.push(rule{lits: slices.Clone(j.cands), kind: rkJob, job: int32(i)})
	}
	s.jobEnd = len(s.rules)
	for i, j := range s.jobs {
		best := s.policyFilter(slices.Clone(j.cands), modeRecommend)
		if len(best) != len(j.cands) {
			s.push(rule{lits: best, kind: rkBest, job: int32(i)})
		}
	}
	for i := 1; i < len(s.rules); i++ {
		s.watch(int32(i))
	}
	if err := s.run(); err != nil {
		return nil, s.missingFile, err
	}
	res := &Result{}
	for id := 1; id < len(s.u.pkgs); id++ {
		if s.val[id] > 0 {
			res.Packages = append(res.Packages, s.u.pkgs[id].p)
		}
	}
	sortPackages(res.Packages)
	return res, false, nil
}

func (s *solver) watch(ri int32) {
	r := &s.rules[ri]
	r.w = [2]int32{-1, -1}
	if len(r.lits) < 2 {
		return
	}
	r.w = [2]int32{0, 1}
	for _, k := range r.w {
		li := litIdx(r.lits[k])
		s.watches[li] = append(s.watches[li], ri)
	}
}

func (s *solver) assign(l int32, lvl int32, why int32) {
	id := abs32(l)
	if l > 0 {
		s.val[id] = 1
	} else {
		s.val[id] = -1
	}
	s.level[id] = lvl
	s.reason[id] = why
	s.trail = append(s.trail, l)
}

// propagate runs unit propagation; it returns the index of a violated
// rule, or 0.
func (s *solver) propagate(lvl int32) int32 {
	for s.propIdx < len(s.trail) {
		l := s.trail[s.propIdx]
		s.propIdx++
		if l > 0 {
			// At most one package of a name (libsolv's same-name rules).
			for _, o := range s.u.byName[s.u.pkgs[l].p.Name] {
				if o == l || s.val[o] < 0 {
					continue
				}
				ri := s.sameNameRule(l, o)
				if s.val[o] > 0 {
					return ri
				}
				s.assign(-o, lvl, ri)
			}
		}
		falseLit := -l
		wl := s.watches[litIdx(falseLit)]
		keep := wl[:0]
		var conflict int32
		for wi, ri := range wl {
			if conflict != 0 {
				keep = append(keep, wl[wi:]...)
				break
			}
			r := &s.rules[ri]
			k := 0
			if r.lits[r.w[1]] == falseLit {
				k = 1
			}
			other := r.lits[r.w[1-k]]
			if s.litVal(other) > 0 {
				keep = append(keep, ri)
				continue
			}
			moved := false
			for j, x := range r.lits {
				if int32(j) == r.w[0] || int32(j) == r.w[1] {
					continue
				}
				if s.litVal(x) >= 0 {
					r.w[k] = int32(j)
					s.watches[litIdx(x)] = append(s.watches[litIdx(x)], ri)
					moved = true
					break
				}
			}
			if moved {
				continue
			}
			keep = append(keep, ri)
			switch s.litVal(other) {
			case 0:
				s.assign(other, lvl, ri)
			case -1:
				conflict = ri
			}
		}
		s.watches[litIdx(falseLit)] = keep
		if conflict != 0 {
			return conflict
		}
	}
	return 0
}

// sameNameRule returns the rule -a | -b for two packages of one name,
// creating it on first use.
func (s *solver) sameNameRule(a, b int32) int32 {
	k := [2]int32{min(a, b), max(a, b)}
	if ri, ok := s.sameName[k]; ok {
		return ri
	}
	if s.sameName == nil {
		s.sameName = map[[2]int32]int32{}
	}
	ri := int32(len(s.rules))
	s.push(rule{lits: []int32{-k[1], -k[0]}, kind: rkSameName, pkg: a, other: b})
	s.sameName[k] = ri
	return ri
}

// revert undoes every decision above lvl.
func (s *solver) revert(lvl int32) {
	i := len(s.trail)
	for i > 0 && s.level[abs32(s.trail[i-1])] > lvl {
		i--
		id := abs32(s.trail[i])
		s.val[id] = 0
		s.level[id] = 0
		s.reason[id] = 0
	}
	s.trail = s.trail[:i]
	s.propIdx = i
	for len(s.branches) > 0 && s.branches[len(s.branches)-1].level >= lvl {
		s.branches = s.branches[:len(s.branches)-1]
	}
	if s.recIdx > i {
		s.recIdx = -1
	}
}

// analyze derives a 1UIP clause from the violated rule ri at level lvl. It
// returns the learnt literals (the asserting one first), the level to jump
// back to and the rules used.
func (s *solver) analyze(ri int32, lvl int32) ([]int32, int32, []int32) {
	seen := make(map[int32]bool)
	var learnt []int32
	var why []int32
	back := int32(1)
	count := 0
	idx := len(s.trail) - 1
	var uip int32
	for {
		why = append(why, ri)
		for _, l := range s.rules[ri].lits {
			id := abs32(l)
			if seen[id] {
				continue
			}
			seen[id] = true
			switch {
			case s.level[id] == lvl:
				count++
			case s.level[id] > 1:
				learnt = append(learnt, l)
				back = max(back, s.level[id])
			default:
				// Level-1 facts are implied by assertions; they stay out
				// of the clause but their rules explain failures.
				why = append(why, s.proofOf(id)...)
			}
		}
		for !seen[abs32(s.trail[idx])] {
			idx--
		}
		uip = s.trail[idx]
		idx--
		count--
		if count <= 0 {
			break
		}
		ri = s.reason[abs32(uip)]
	}
	learnt = append([]int32{-uip}, learnt...)
	return learnt, back, why
}

// proofOf returns the rules that forced the level-1 decision of id.
func (s *solver) proofOf(id int32) []int32 {
	var out []int32
	seen := map[int32]bool{}
	stack := []int32{id}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		ri := s.reason[x]
		if ri == 0 {
			continue
		}
		out = append(out, ri)
		for _, l := range s.rules[ri].lits {
			if y := abs32(l); y != x {
				stack = append(stack, y)
			}
		}
	}
	return out
}

// setPropagateLearn decides l at a new level and propagates, learning from
// conflicts and jumping back until consistent. It returns the new level,
// or -1 when the request is unsatisfiable.
func (s *solver) setPropagateLearn(lvl int32, l int32, why int32) int32 {
	lvl++
	s.assign(l, lvl, why)
	for {
		c := s.propagate(lvl)
		if c == 0 {
			return lvl
		}
		if lvl <= 1 {
			s.failRule = c
			return -1
		}
		learnt, back, usedRules := s.analyze(c, lvl)
		s.revert(back)
		lvl = back
		ri := int32(len(s.rules))
		s.push(rule{lits: learnt, kind: rkLearnt})
		if s.learntWhy == nil {
			s.learntWhy = map[int32][]int32{}
		}
		s.learntWhy[ri] = usedRules
		s.watchLearnt(ri)
		s.assign(learnt[0], lvl, ri)
	}
}

// watchLearnt watches the asserting literal and the literal of the
// highest level among the others, so the clause stays correct after the
// jump back.
func (s *solver) watchLearnt(ri int32) {
	r := &s.rules[ri]
	r.w = [2]int32{-1, -1}
	if len(r.lits) < 2 {
		return
	}
	best := 1
	for j := 2; j < len(r.lits); j++ {
		if s.level[abs32(r.lits[j])] > s.level[abs32(r.lits[best])] {
			best = j
		}
	}
	r.w = [2]int32{0, int32(best)}
	for _, k := range r.w {
		li := litIdx(r.lits[k])
		s.watches[li] = append(s.watches[li], ri)
	}
}

// run is solver_run_sat for an empty system.
func (s *solver) run() error {
	var lvl int32
	systemLevel := int32(1)
	for {
		if lvl <= 0 {
			lvl = 1
			if !s.assertions() {
				return s.explain()
			}
			if c := s.propagate(1); c != 0 {
				s.failRule = c
				return s.explain()
			}
			systemLevel = lvl + 1
		}
		if lvl < systemLevel {
			old := lvl
			lvl = s.resolveJobs(lvl)
			if lvl < 0 {
				return s.explain()
			}
			if lvl < old {
				continue
			}
			systemLevel = lvl + 1
		}
		if lvl < systemLevel {
			systemLevel = lvl
		}
		old := lvl
		lvl = s.resolveDeps(lvl)
		if lvl < 0 {
			return s.explain()
		}
		if lvl < old {
			continue
		}
		if s.weak {
			rerun := false
			lvl = s.resolveWeak(lvl, &rerun)
			if lvl < 0 {
				return s.explain()
			}
			if rerun {
				continue
			}
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
		if bi, pos := s.minimizeCandidate(); bi >= 0 {
			lvl = s.takeBranch(bi, pos)
			if lvl < 0 {
				return s.explain()
			}
			continue
		}
		return nil
	}
}

// minimizeCandidate is libsolv's auto-minimization check: a branch whose
// untried alternative got installed anyway (so taking it directly may
// install less), or whose choice was not recommended while an alternative
// is. The earliest such branch wins. It returns -1 when there is none.
func (s *solver) minimizeCandidate() (int, int) {
	s.updateRecommends()
	lastB, lastI := -1, -1
	for bi := len(s.branches) - 1; bi >= 0; bi-- {
		br := &s.branches[bi]
		l := br.level
		lastsi := -1
		for i, p := range br.alts {
			if p <= 0 {
				continue
			}
			if s.val[p] > 0 && s.level[p] > l {
				lastB, lastI, lastsi = bi, i, -1
				break
			}
			if lastsi < 0 && (s.recMap[p] || s.isSupplementing(p)) {
				lastsi = i
			}
		}
		if lastsi >= 0 {
			for _, x := range br.alts {
				p := -x
				if p <= 0 || s.val[p] <= 0 || s.level[p] != l+1 {
					continue
				}
				if !(s.recMap[p] || s.isSupplementing(p)) {
					lastB, lastI = bi, lastsi
					break
				}
			}
		}
	}
	return lastB, lastI
}

// takeBranch goes back to branch bi's level and installs its alternative
// pos instead.
func (s *solver) takeBranch(bi, pos int) int32 {
	br := &s.branches[bi]
	p := br.alts[pos]
	br.alts[pos] = -p
	lvl := br.level
	keep := s.branches[:bi+1]
	s.branches = s.branches[:bi]
	s.revert(lvl)
	s.branches = keep
	return s.setPropagateLearn(lvl, p, 0)
}

func (s *solver) createBranch(lvl int32, dq []int32) {
	alts := make([]int32, len(dq))
	alts[0] = -dq[0]
	copy(alts[1:], dq[1:])
	s.branches = append(s.branches, branch{alts: alts, level: lvl})
}

// assertions decides every one-literal rule at level 1.
func (s *solver) assertions() bool {
	for i := 1; i < len(s.rules); i++ {
		r := &s.rules[i]
		if len(r.lits) != 1 {
			continue
		}
		l := r.lits[0]
		switch s.litVal(l) {
		case 0:
			s.assign(l, 1, int32(i))
		case -1:
			s.failRule = int32(i)
			return false
		}
	}
	return true
}

func (s *solver) selectAndInstall(lvl int32, dq []int32, ri int32) int32 {
	if len(dq) > 1 {
		dq = s.policyFilter(dq, modeChoose)
	}
	if len(dq) > 1 {
		s.createBranch(lvl, dq)
	}
	return s.setPropagateLearn(lvl, dq[0], 0)
}

// resolveJobs is libsolv's resolve_jobrules.
func (s *solver) resolveJobs(lvl int32) int32 {
	start := lvl
	for i := s.jobStart; i < s.jobEnd; i++ {
		r := &s.rules[i]
		var dq []int32
		sat := false
		for _, l := range r.lits {
			switch s.litVal(l) {
			case 1:
				sat = true
			case 0:
				dq = append(dq, l)
			}
		}
		if sat || len(dq) == 0 {
			continue
		}
		old := lvl
		lvl = s.selectAndInstall(lvl, dq, int32(i))
		if lvl < 0 {
			return lvl
		}
		if lvl <= old {
			if lvl == old {
				i--
				continue
			}
			if lvl < start {
				return lvl
			}
			i = s.jobStart - 1
		}
	}
	return lvl
}

// resolveDeps is libsolv's resolve_dependencies: go round the rules,
// deciding the first unfulfilled one whose candidates the policy narrows
// to one; postpone real alternatives until nothing else is left.
func (s *solver) resolveDeps(lvl int32) int32 {
	orig := lvl
	postponed := 0
	var dq []int32
	for i, n := 1, 1; ; i, n = i+1, n+1 {
		if n >= len(s.rules) {
			if postponed <= 0 {
				break
			}
			i, postponed, n = postponed, -1, 1
		}
		if i >= len(s.rules) {
			i = 1
		}
		r := &s.rules[i]
		if len(r.lits) == 0 {
			continue
		}
		p := r.lits[0]
		dRule := len(r.lits) > 2
		if p < 0 && (!dRule || s.val[-p] <= 0) {
			continue
		}
		dq = dq[:0]
		if !dRule {
			if len(r.lits) < 2 || r.lits[1] <= 0 {
				continue
			}
			if s.val[p] != 0 || s.val[r.lits[1]] != 0 {
				continue
			}
			dq = append(dq, p, r.lits[1])
		} else {
			if p >= 0 {
				if s.val[p] > 0 {
					continue
				}
				if s.val[p] == 0 {
					dq = append(dq, p)
				}
			}
			skip := false
			for _, l := range r.lits[1:] {
				if l < 0 {
					if s.val[-l] <= 0 {
						skip = true
						break
					}
				} else {
					if s.val[l] > 0 {
						skip = true
						break
					}
					if s.val[l] == 0 {
						dq = append(dq, l)
					}
				}
			}
			if skip {
				continue
			}
		}
		if len(dq) < 2 {
			continue // unit or violated: propagation owns it
		}
		cand := slices.Clone(dq)
		if postponed >= 0 {
			cand = s.policyFilter(cand, modeChooseNoReorder)
			if len(cand) > 1 {
				if postponed == 0 {
					postponed = i
				}
				continue
			}
		}
		lvl = s.selectAndInstall(lvl, cand, int32(i))
		if lvl < orig {
			break
		}
		n = 0
	}
	return lvl
}
