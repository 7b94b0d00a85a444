package solve

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// richOp is an operator of an rpm rich (boolean) dependency.
type richOp uint8

const (
	opAtom richOp = iota
	opAnd
	opOr
	opIf
	opUnless
	opWith
	opWithout
)

var richOps = map[string]richOp{
	"and": opAnd, "or": opOr, "if": opIf, "unless": opUnless, "with": opWith, "without": opWithout,
}

// richExpr is a parsed rich dependency. For if and unless, args[0] is the
// consequence, args[1] the condition and els the optional else branch.
type richExpr struct {
	op   richOp
	atom dep
	args []*richExpr
	els  *richExpr
}

// maxRichDepth bounds nesting so hostile metadata cannot exhaust the stack.
const maxRichDepth = 64

// parseRich parses rpm's boolean dependency syntax, e.g.
// "(foo >= 1.0 and (bar or baz if qux))".
func parseRich(s string) (*richExpr, error) {
	p := &richParser{s: s}
	e, err := p.group(0)
	if err != nil {
		return nil, fmt.Errorf("rich dependency %q: %w", s, err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("rich dependency %q: trailing text at byte %d", s, p.i)
	}
	return e, nil
}

type richParser struct {
	s string
	i int
}

func (p *richParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// group parses "( operand op operand ... )".
func (p *richParser) group(depth int) (*richExpr, error) {
	if depth > maxRichDepth {
		return nil, errors.New("nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, fmt.Errorf("want '(' at byte %d", p.i)
	}
	p.i++
	first, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
		return first, nil // "(foo)" is just foo
	}
	word := p.word()
	op, ok := richOps[word]
	if !ok {
		return nil, fmt.Errorf("unknown operator %q at byte %d", word, p.i)
	}
	e := &richExpr{op: op, args: []*richExpr{first}}
	for {
		next, err := p.operand(depth)
		if err != nil {
			return nil, err
		}
		e.args = append(e.args, next)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			return e, nil
		}
		w := p.word()
		switch {
		case w == "else" && (op == opIf || op == opUnless) && e.els == nil && len(e.args) == 2:
			els, err := p.operand(depth)
			if err != nil {
				return nil, err
			}
			e.els = els
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ')' {
				return nil, fmt.Errorf("want ')' after else branch at byte %d", p.i)
			}
			p.i++
			return e, nil
		case richOps[w] == op && (op == opAnd || op == opOr || op == opWith):
			continue
		default:
			return nil, fmt.Errorf("unexpected %q at byte %d (mixing operators needs parentheses)", w, p.i)
		}
	}
}

func (p *richParser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' && p.s[p.i] != '(' && p.s[p.i] != ')' {
		p.i++
	}
	return p.s[start:p.i]
}

// operand is a nested group or "name [op evr]". Names may hold balanced
// parentheses, as in "libfoo.so.1()(64bit)".
func (p *richParser) operand(depth int) (*richExpr, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	if p.s[p.i] == '(' {
		return p.group(depth + 1)
	}
	start, level := p.i, 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == ' ' || c == '\t' {
			break
		}
		if c == '(' {
			level++
		} else if c == ')' {
			if level == 0 {
				break
			}
			level--
		}
		p.i++
	}
	name := p.s[start:p.i]
	if name == "" {
		return nil, fmt.Errorf("empty name at byte %d", start)
	}
	if _, isOp := richOps[name]; isOp || name == "else" {
		return nil, fmt.Errorf("operator %q where a name was expected", name)
	}
	d := repo.Dep{Name: name}
	save := p.i
	p.space()
	opStart := p.i
	for p.i < len(p.s) && strings.ContainsRune("<=>", rune(p.s[p.i])) {
		p.i++
	}
	if rel := p.s[opStart:p.i]; rel != "" {
		f, ok := map[string]repo.Flag{"=": repo.EQ, "==": repo.EQ, "<": repo.LT, "<=": repo.LE, "=<": repo.LE, ">": repo.GT, ">=": repo.GE, "=>": repo.GE}[rel]
		if !ok {
			return nil, fmt.Errorf("bad comparison %q", rel)
		}
		evr := p.word()
		v, err := version.Parse(evr)
		if err != nil {
			return nil, err
		}
		d.Flags, d.EVR = f, v
	} else {
		p.i = save
	}
	x, _ := newDep(d)
	return &richExpr{op: opAtom, atom: x}, nil
}

// cnf is a conjunction of clauses over package literals (+id installed,
// -id not installed). A nil cnf is true; a cnf holding an empty clause is
// false.
type cnf [][]int32

// maxClauses bounds the CNF a single rich dependency may expand to.
const maxClauses = 4096

var errTooComplex = errors.New("rich dependency expands to too many rules")

// providers returns the packages satisfying an atom, or a with/without
// combination of atoms, which libsolv also resolves to a provider set.
func (u *universe) richProviders(e *richExpr) ([]int32, bool) {
	switch e.op {
	case opAtom:
		return u.whatProvides(e.atom), true
	case opWith, opWithout:
		acc, ok := u.richProviders(e.args[0])
		if !ok {
			return nil, false
		}
		for _, a := range e.args[1:] {
			other, ok := u.richProviders(a)
			if !ok {
				return nil, false
			}
			var next []int32
			for _, id := range acc {
				_, in := slices.BinarySearch(other, id)
				if in == (e.op == opWith) {
					next = append(next, id)
				}
			}
			acc = next
		}
		return acc, true
	}
	return nil, false
}

// toCNF converts e (negated when neg) into clauses. A part that cannot
// hold folds to false, as libsolv's normalization does, so that
// "(a or (b and c))" with no b is just "a" and weak dependencies do not see
// a "(a or c)" clause.
func (u *universe) toCNF(e *richExpr, neg bool) (cnf, error) {
	c, err := u.toCNFRaw(e, neg)
	if err != nil {
		return nil, err
	}
	for _, cl := range c {
		if len(cl) == 0 {
			return cnf{{}}, nil
		}
	}
	return c, nil
}

func (u *universe) toCNFRaw(e *richExpr, neg bool) (cnf, error) {
	if ids, ok := u.richProviders(e); ok {
		if !neg {
			c := slices.Clone(ids)
			return cnf{c}, nil
		}
		out := make(cnf, 0, len(ids))
		for _, id := range ids {
			out = append(out, []int32{-id})
		}
		return out, nil
	}
	and := func(parts ...cnf) cnf {
		var out cnf
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	sub := func(x *richExpr, n bool) (cnf, error) { return u.toCNF(x, n) }
	switch e.op {
	case opAnd, opOr:
		// and under negation is or of negations, and vice versa.
		conj := (e.op == opAnd) != neg
		var acc cnf
		for i, a := range e.args {
			c, err := sub(a, neg)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				acc = c
				continue
			}
			if conj {
				acc = and(acc, c)
			} else if acc, err = orCNF(acc, c); err != nil {
				return nil, err
			}
		}
		return acc, nil
	case opIf, opUnless:
		a, b := e.args[0], e.args[1]
		if e.op == opUnless && e.els == nil {
			// libsolv reads a lone "A unless B" as A and not B
			// (normalize_dep_and with the condition inverted); negated,
			// not A or B.
			ca, err := sub(a, neg)
			if err != nil {
				return nil, err
			}
			cb, err := sub(b, !neg)
			if err != nil {
				return nil, err
			}
			if neg {
				return orCNF(ca, cb)
			}
			return and(ca, cb), nil
		}
		// A if B            = (A or not B)
		// A if B else C     = (A or not B) and (B or C)
		// A unless B else C = (A or B) and (not B or C)
		condNeg := e.op == opIf
		if !neg {
			ca, err := sub(a, false)
			if err != nil {
				return nil, err
			}
			cb, err := sub(b, condNeg)
			if err != nil {
				return nil, err
			}
			first, err := orCNF(ca, cb)
			if err != nil || e.els == nil {
				return first, err
			}
			cb2, err := sub(b, !condNeg)
			if err != nil {
				return nil, err
			}
			cc, err := sub(e.els, false)
			if err != nil {
				return nil, err
			}
			second, err := orCNF(cb2, cc)
			return and(first, second), err
		}
		// not (A if B)            = not A and B
		// not (A if B else C)     = (B and not A) or (not B and not C)
		// not (A unless B else C) = (not B and not A) or (B and not C)
		na, err := sub(a, true)
		if err != nil {
			return nil, err
		}
		pb, err := sub(b, !condNeg)
		if err != nil {
			return nil, err
		}
		first := and(na, pb)
		if e.els == nil {
			return first, nil
		}
		nb, err := sub(b, condNeg)
		if err != nil {
			return nil, err
		}
		nc, err := sub(e.els, true)
		if err != nil {
			return nil, err
		}
		return orCNF(first, and(nb, nc))
	}
	return nil, fmt.Errorf("unsupported operand in with/without")
}

// orCNF distributes (a or b) into clauses, dropping tautologies.
func orCNF(a, b cnf) (cnf, error) {
	if a == nil || b == nil {
		return nil, nil // true or x = true
	}
	if len(a)*len(b) > maxClauses {
		return nil, errTooComplex
	}
	out := make(cnf, 0, len(a)*len(b))
	for _, x := range a {
	next:
		for _, y := range b {
			c := append(slices.Clone(x), y...)
			slices.Sort(c)
			c = slices.Compact(c)
			for i := 1; i < len(c); i++ {
				for j := 0; j < i; j++ {
					if c[j] == -c[i] {
						continue next
					}
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// evalRich says whether e holds when exactly the packages inst reports
// are installed.
func (u *universe) evalRich(e *richExpr, inst func(int32) bool) bool {
	if ids, ok := u.richProviders(e); ok {
		for _, id := range ids {
			if inst(id) {
				return true
			}
		}
		return false
	}
	switch e.op {
	case opAnd:
		for _, a := range e.args {
			if !u.evalRich(a, inst) {
				return false
			}
		}
		return true
	case opOr:
		for _, a := range e.args {
			if u.evalRich(a, inst) {
				return true
			}
		}
		return false
	case opIf, opUnless:
		cond := u.evalRich(e.args[1], inst)
		if e.op == opUnless {
			cond = !cond
		}
		if cond {
			return u.evalRich(e.args[0], inst)
		}
		if e.els != nil {
			return u.evalRich(e.els, inst)
		}
		// A lone "A unless B" is A and not B to libsolv.
		return e.op == opIf
	}
	return false
}
