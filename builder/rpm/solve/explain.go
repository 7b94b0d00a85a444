package solve

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// explain turns the rule that could not be satisfied, and the rules that
// forced its literals, into an *Error.
func (s *solver) explain() error {
	involved := s.involvedRules(s.failRule)
	slices.SortFunc(involved, func(a, b int32) int {
		if c := cmp.Compare(kindOrder(s.rules[a].kind), kindOrder(s.rules[b].kind)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var chain []string
	for _, ri := range involved {
		if d := s.describe(ri); d != "" && !slices.Contains(chain, d) {
			chain = append(chain, d)
		}
	}
	return &Error{Summary: s.summarize(involved, chain), Chain: chain}
}

func kindOrder(k ruleKind) int {
	return map[ruleKind]int{rkJob: 0, rkBest: 1, rkRequires: 2, rkNothingProvides: 3, rkConflicts: 4, rkObsoletes: 5, rkSameName: 6, rkInfArch: 7}[k]
}

// involvedRules returns the original rules (learnt ones expanded) that
// together rule out every assignment: the failed rule and, transitively,
// the reasons of its literals.
func (s *solver) involvedRules(fail int32) []int32 {
	var out []int32
	seenRule := map[int32]bool{}
	seenVar := map[int32]bool{}
	stack := []int32{fail}
	for len(stack) > 0 {
		ri := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if ri == 0 || seenRule[ri] {
			continue
		}
		seenRule[ri] = true
		r := &s.rules[ri]
		if r.kind == rkLearnt {
			stack = append(stack, s.learntWhy[ri]...)
		} else {
			out = append(out, ri)
		}
		for _, l := range r.lits {
			id := abs32(l)
			if seenVar[id] || s.val[id] == 0 {
				continue
			}
			seenVar[id] = true
			stack = append(stack, s.reason[id])
		}
	}
	return out
}

func (s *solver) name(id int32) string { return s.u.pkgs[id].p.NEVRA() }

func (s *solver) names(ids []int32) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, s.name(abs32(id)))
	}
	return strings.Join(parts, ", ")
}

func (s *solver) describe(ri int32) string {
	r := &s.rules[ri]
	switch r.kind {
	case rkJob:
		return fmt.Sprintf("%q is requested (candidates: %s)", s.jobs[r.job].spec, s.names(r.lits))
	case rkBest:
		return fmt.Sprintf("the best candidates for %q are %s", s.jobs[r.job].spec, s.names(r.lits))
	case rkRequires:
		var prov []int32
		for _, l := range r.lits {
			if l > 0 {
				prov = append(prov, l)
			}
		}
		return fmt.Sprintf("%s requires %s (provided by %s)", s.name(r.pkg), r.dep.text, s.names(prov))
	case rkNothingProvides:
		return fmt.Sprintf("nothing provides %s needed by %s", r.dep.text, s.name(r.pkg))
	case rkConflicts:
		if r.other != 0 {
			return fmt.Sprintf("%s conflicts with %s provided by %s", s.name(r.pkg), r.dep.text, s.name(r.other))
		}
		return fmt.Sprintf("%s conflicts with %s", s.name(r.pkg), r.dep.text)
	case rkObsoletes:
		return fmt.Sprintf("%s obsoletes %s (%s)", s.name(r.pkg), s.name(r.other), r.dep.text)
	case rkSameName:
		return fmt.Sprintf("%s and %s cannot both be installed", s.name(r.pkg), s.name(r.other))
	case rkInfArch:
		return fmt.Sprintf("%s has an inferior architecture", s.name(r.pkg))
	}
	return ""
}

// summarize picks the one line that best says why.
func (s *solver) summarize(involved []int32, chain []string) string {
	requested := map[int32]string{} // package -> spec, for single-candidate requests
	for _, ri := range involved {
		r := &s.rules[ri]
		if (r.kind == rkJob || r.kind == rkBest) && len(r.lits) == 1 {
			requested[r.lits[0]] = s.jobs[r.job].spec
		}
	}
	for _, ri := range involved {
		if r := &s.rules[ri]; r.kind == rkNothingProvides {
			return fmt.Sprintf("nothing provides %s needed by %s", r.dep.text, s.name(r.pkg))
		}
	}
	for _, ri := range involved {
		r := &s.rules[ri]
		if r.kind != rkConflicts && r.kind != rkObsoletes && r.kind != rkSameName || r.other == 0 {
			continue
		}
		for _, pair := range [][2]int32{{r.pkg, r.other}, {r.other, r.pkg}} {
			want, got := pair[0], pair[1]
			if _, ok := requested[want]; !ok {
				continue
			}
			for _, rj := range involved {
				q := &s.rules[rj]
				if q.kind == rkRequires && slices.Contains(q.lits, got) {
					return fmt.Sprintf("%s requires %s, which conflicts with the requested %s", s.name(q.pkg), q.dep.text, s.name(want))
				}
			}
			if _, ok := requested[got]; ok {
				return fmt.Sprintf("the requested %s and %s cannot both be installed", s.name(want), s.name(got))
			}
		}
	}
	if len(chain) == 0 {
		return "cannot resolve the requested packages"
	}
	return "cannot resolve the requested packages: " + strings.Join(chain, "; ")
}
