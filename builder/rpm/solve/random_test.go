package solve

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
)

// randomCase builds a small random universe and request from seed: a few
// names with several versions, epochs and arches, virtual capabilities,
// files, versioned and rich dependencies, conflicts, obsoletes, weak deps
// and repository priorities.
func randomCase(seed uint64) oracleCase {
	r := rand.New(rand.NewPCG(seed, 0x736f6c76))
	// Odd seeds make friendlier universes (fewer conflicts and versioned
	// requirements), so that many cases are solvable and choices matter.
	friendly := seed%2 == 1
	rate := func(n int) bool {
		if friendly {
			n *= 3
		}
		return r.IntN(n) == 0
	}
	names := []string{"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"}[:4+r.IntN(7)]
	caps := []string{"cap-a", "cap-b", "cap-c"}
	files := []string{"/usr/bin/a", "/usr/bin/b", "/etc/c.conf"}
	versions := []string{"1.0", "1.1", "2.0", "2.0~rc1", "10"}
	ops := []string{"=", "<", "<=", ">", ">="}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	depOn := func() string {
		var target string
		switch r.IntN(4) {
		case 0:
			target = pick(caps)
		default:
			target = pick(names)
		}
		if rate(3) {
			v := pick(versions)
			if r.IntN(3) == 0 {
				v += "-1"
			}
			return target + " " + pick(ops) + " " + v
		}
		return target
	}
	richDep := func() string {
		switch r.IntN(7) {
		case 0:
			return fmt.Sprintf("(%s or %s)", depOn(), depOn())
		case 1:
			return fmt.Sprintf("(%s and %s)", depOn(), depOn())
		case 2:
			return fmt.Sprintf("(%s if %s)", depOn(), depOn())
		case 3:
			return fmt.Sprintf("(%s if %s else %s)", depOn(), depOn(), depOn())
		case 4:
			return fmt.Sprintf("(%s unless %s)", depOn(), depOn())
		case 5:
			return fmt.Sprintf("(%s with %s)", pick(caps), depOn())
		default:
			return fmt.Sprintf("(%s or (%s and %s))", depOn(), depOn(), depOn())
		}
	}
	nrepos := 1 + r.IntN(3)
	var repos []Repo
	for i := range nrepos {
		src := repo.Source{Name: fmt.Sprintf("repo%d", i), Priority: []int{10, 50, 99, 99}[r.IntN(4)]}
		var pkgs []*repo.Package
		for range 3 + r.IntN(10) {
			name := pick(names)
			evr := pick(versions) + "-" + fmt.Sprint(1+r.IntN(3))
			if r.IntN(8) == 0 {
				evr = "1:" + evr
			}
			arch := []string{"x86_64", "x86_64", "x86_64", "noarch", "i686", "aarch64"}[r.IntN(6)]
			if friendly && arch != "noarch" {
				arch = "x86_64"
			}
			var deps []string
			for range r.IntN(3) {
				if rate(6) {
					deps = append(deps, "R: "+richDep())
				} else {
					deps = append(deps, "R: "+depOn())
				}
			}
			if r.IntN(3) == 0 {
				c := pick(caps)
				if r.IntN(2) == 0 {
					c += " = " + pick(versions)
				}
				deps = append(deps, "P: "+c)
			}
			if r.IntN(4) == 0 {
				deps = append(deps, "F: "+pick(files))
			}
			if rate(5) {
				deps = append(deps, "R: "+pick(files))
			}
			if rate(6) {
				deps = append(deps, "C: "+depOn())
			}
			if rate(10) {
				deps = append(deps, "C: "+richDep())
			}
			if rate(7) {
				deps = append(deps, "O: "+pick(names)+" < "+pick(versions))
			}
			if r.IntN(4) == 0 {
				deps = append(deps, "Rec: "+depOn())
			}
			if r.IntN(10) == 0 {
				deps = append(deps, "Rec: "+richDep())
			}
			if r.IntN(6) == 0 {
				deps = append(deps, "Sup: "+depOn())
			}
			if r.IntN(10) == 0 {
				deps = append(deps, "Sug: "+depOn())
			}
			if r.IntN(12) == 0 {
				deps = append(deps, "Enh: "+depOn())
			}
			pkgs = append(pkgs, pk(name+"-"+evr+"."+arch, deps...))
		}
		repos = append(repos, Repo{Source: src, Packages: pkgs})
	}
	// Ask mostly for packages that exist, in every spec form.
	var all []*repo.Package
	for _, rp := range repos {
		for _, p := range rp.Packages {
			if p.Arch != "aarch64" {
				all = append(all, p)
			}
		}
	}
	var install []string
	for range 1 + r.IntN(3) {
		p := all[r.IntN(len(all))]
		switch r.IntN(8) {
		case 0:
			install = append(install, pick(names)+"-"+pick(versions))
		case 1:
			install = append(install, pick(caps))
		case 2:
			install = append(install, p.Name+"."+p.Arch)
		case 3:
			install = append(install, p.Name+"-"+p.EVR.Version)
		case 4:
			install = append(install, p.Name+"-"+p.EVR.String())
		default:
			install = append(install, p.Name)
		}
	}
	var exclude []string
	if r.IntN(8) == 0 {
		exclude = []string{pick(names)[:2] + "*"}
	}
	return oracleCase{
		Name:    fmt.Sprintf("random seed %d", seed),
		Repos:   repos,
		Install: install,
		Exclude: exclude,
		Weak:    r.IntN(2) == 0,
	}
}

func TestRandomMatchesLibsolv(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 100
	}
	var cases []oracleCase
	for seed := range uint64(n) {
		cases = append(cases, randomCase(seed))
	}
	want := runLibsolv(t, cases)
	solvable := 0
	for _, w := range want {
		if w.OK != nil {
			solvable++
		}
	}
	bad := compareWithLibsolv(t, cases, want, false)
	t.Logf("%d random cases (%d solvable, %d unsolvable per libsolv), %d differ", n, solvable, n-solvable, bad)
	if bad > 0 && testing.Verbose() {
		for i, c := range cases {
			if res, err := Solve(t.Context(), c.request()); (err == nil) != (want[i].OK != nil) || err == nil && !slices.Equal(sortedCopy(res.NEVRAs()), want[i].OK) {
				t.Logf("%s:\n%s", c.Name, describeCase(c))
			}
		}
	}
}

// describeCase prints a case for debugging a mismatch.
func describeCase(c oracleCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "install %q exclude %q weak %v\n", c.Install, c.Exclude, c.Weak)
	for _, r := range c.Repos {
		fmt.Fprintf(&b, "repo %s prio %d\n", r.Source.Name, r.Source.Priority)
		for _, p := range r.Packages {
			fmt.Fprintf(&b, "  %s", p.NEVRA())
			for _, d := range p.Requires {
				fmt.Fprintf(&b, " R:%s", d)
			}
			for _, d := range p.Provides[1:] {
				fmt.Fprintf(&b, " P:%s", d)
			}
			for _, d := range p.Conflicts {
				fmt.Fprintf(&b, " C:%s", d)
			}
			for _, d := range p.Obsoletes {
				fmt.Fprintf(&b, " O:%s", d)
			}
			for _, d := range p.Recommends {
				fmt.Fprintf(&b, " Rec:%s", d)
			}
			for _, d := range p.Supplements {
				fmt.Fprintf(&b, " Sup:%s", d)
			}
			for _, d := range p.Suggests {
				fmt.Fprintf(&b, " Sug:%s", d)
			}
			for _, d := range p.Enhances {
				fmt.Fprintf(&b, " Enh:%s", d)
			}
			for _, f := range p.Files {
				fmt.Fprintf(&b, " F:%s", f)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
