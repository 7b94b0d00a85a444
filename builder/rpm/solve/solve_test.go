package solve

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
)

// shuffled returns a copy of repos with repositories and packages in a
// random order.
func shuffled(r *rand.Rand, repos []Repo) []Repo {
	out := make([]Repo, len(repos))
	for i, rp := range repos {
		pkgs := slices.Clone(rp.Packages)
		r.Shuffle(len(pkgs), func(a, b int) { pkgs[a], pkgs[b] = pkgs[b], pkgs[a] })
		out[i] = Repo{Source: rp.Source, Packages: pkgs}
	}
	r.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

func TestDeterministicWhateverTheInputOrder(t *testing.T) {
	cases := hardCases()
	for seed := range uint64(60) {
		cases = append(cases, randomCase(seed*2+1))
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, c := range cases {
		req := c.request()
		first, ferr := Solve(context.Background(), req)
		for range 10 {
			req.Repos = shuffled(r, c.Repos)
			got, err := Solve(context.Background(), req)
			switch {
			case (err == nil) != (ferr == nil):
				t.Fatalf("%s: shuffled input changed the outcome: %v vs %v", c.Name, err, ferr)
			case err != nil:
				if err.Error() != ferr.Error() {
					t.Fatalf("%s: shuffled input changed the error:\n%v\n%v", c.Name, err, ferr)
				}
			case !slices.Equal(got.NEVRAs(), first.NEVRAs()):
				t.Fatalf("%s: shuffled input changed the result: %v vs %v", c.Name, got.NEVRAs(), first.NEVRAs())
			}
		}
	}
}

func TestResultIsSortedNEVRAs(t *testing.T) {
	res, err := Solve(context.Background(), Request{
		Arch: "x86_64",
		Repos: oneRepo(
			pk("zed-1-1.x86_64", "R: docker-ce"),
			pk("docker-ce-3:27.5.1-1.el9.x86_64", "R: aaa"),
			pk("aaa-0.1-1.noarch"),
		),
		Install: []string{"zed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"aaa-0.1-1.noarch", "docker-ce-3:27.5.1-1.el9.x86_64", "zed-1-1.x86_64"}
	if got := res.NEVRAs(); !slices.Equal(got, want) {
		t.Errorf("NEVRAs() = %q, want %q", got, want)
	}
}

func TestErrorsExplain(t *testing.T) {
	k8s := oneRepo(
		pk("kubelet-1.12.2-0.x86_64", "R: kubernetes-cni = 0.6.0"),
		pk("kubernetes-cni-0.6.0-0.x86_64"),
		pk("kubernetes-cni-0.7.5-0.x86_64"),
		pk("kubeadm-1.12.2-0.x86_64"),
		pk("bar-1.0-1.x86_64", "R: libfoo.so.1()(64bit)"),
	)
	for _, tc := range []struct {
		install []string
		want    string
		check   func(error) bool
	}{
		{
			[]string{"kubelet-1.12.2", "kubernetes-cni-0.7.5"},
			"kubelet-1.12.2-0.x86_64 requires kubernetes-cni = 0.6.0, which conflicts with the requested kubernetes-cni-0.7.5-0.x86_64",
			func(err error) bool { var e *Error; return errors.As(err, &e) && len(e.Chain) >= 3 },
		},
		{
			[]string{"bar"},
			"nothing provides libfoo.so.1()(64bit) needed by bar-1.0-1.x86_64",
			func(err error) bool { var e *Error; return errors.As(err, &e) },
		},
		{
			[]string{"kubeadm-9.9"},
			`no package matches "kubeadm-9.9"`,
			func(err error) bool { var e *NoMatchError; return errors.As(err, &e) && e.Spec == "kubeadm-9.9" },
		},
	} {
		_, err := Solve(context.Background(), Request{Arch: "x86_64", Repos: k8s, Install: tc.install})
		if err == nil {
			t.Errorf("Solve(%q) succeeded, want %q", tc.install, tc.want)
			continue
		}
		if err.Error() != tc.want || !tc.check(err) {
			t.Errorf("Solve(%q) = %T %q, want %q", tc.install, err, err, tc.want)
		}
	}
}

type fakeFilelists struct {
	calls int
	add   map[*repo.Package][]string
}

func (f *fakeFilelists) LoadFilelists(ctx context.Context) error {
	f.calls++
	for p, files := range f.add {
		p.Files = append(p.Files, files...)
	}
	return nil
}

func TestFileDependencyLoadsFilelists(t *testing.T) {
	lib := pk("libexec-1-1.x86_64")
	repos := oneRepo(pk("tool-1-1.x86_64", "R: /usr/libexec/helper"), lib)

	_, err := Solve(context.Background(), Request{Arch: "x86_64", Repos: repos, Install: []string{"tool"}})
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "nothing provides /usr/libexec/helper") {
		t.Fatalf("without file lists: err = %v, want nothing provides /usr/libexec/helper", err)
	}

	fl := &fakeFilelists{add: map[*repo.Package][]string{lib: {"/usr/libexec/helper"}}}
	res, err := Solve(context.Background(), Request{Arch: "x86_64", Repos: repos, Install: []string{"tool"}, Filelists: fl})
	if err != nil {
		t.Fatalf("with file lists: %v", err)
	}
	if want := []string{"libexec-1-1.x86_64", "tool-1-1.x86_64"}; !slices.Equal(res.NEVRAs(), want) {
		t.Errorf("with file lists: %v, want %v", res.NEVRAs(), want)
	}
	if fl.calls != 1 {
		t.Errorf("LoadFilelists called %d times, want 1", fl.calls)
	}

	// A satisfiable request never loads file lists.
	fl2 := &fakeFilelists{}
	if _, err := Solve(context.Background(), Request{Arch: "x86_64", Repos: oneRepo(lib), Install: []string{"libexec"}, Filelists: fl2}); err != nil || fl2.calls != 0 {
		t.Errorf("plain request: err %v, %d file list loads, want none", err, fl2.calls)
	}
}

func TestRPMLib(t *testing.T) {
	ok := pk("a-1-1.x86_64", "R: rpmlib(PayloadIsZstd) <= 5.4.18-1", "R: rpmlib(CompressedFileNames) <= 3.0.4-1", "R: rpmlib(RichDependencies)")
	if _, err := Solve(context.Background(), Request{Arch: "x86_64", Repos: oneRepo(ok), Install: []string{"a"}}); err != nil {
		t.Errorf("known rpmlib features: %v", err)
	}
	for _, bad := range []string{"R: rpmlib(TimeTravel)", "R: rpmlib(PayloadIsZstd) >= 9.0"} {
		p := pk("b-1-1.x86_64", bad)
		_, err := Solve(context.Background(), Request{Arch: "x86_64", Repos: oneRepo(p), Install: []string{"b"}})
		var me *MetadataError
		if !errors.As(err, &me) || !errors.Is(err, ErrUnknownRPMLib) {
			t.Errorf("%s: err = %v, want a MetadataError wrapping ErrUnknownRPMLib", bad, err)
		}
	}
}

func TestParseRich(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"(a and b)", true},
		{"(a >= 1.0 or b < 2:3-4 or c)", true},
		{"(libfoo.so.1()(64bit) if (b and (c or d)))", true},
		{"(a if b else c)", true},
		{"(a unless b else c)", true},
		{"(a with b without c)", false},
		{"(a and b or c)", false},
		{"(a and)", false},
		{"(a", false},
		{"(a and b))", false},
		{"(a => )", false},
		{"(if and b)", false},
	} {
		_, err := parseRich(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parseRich(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func FuzzParseRich(f *testing.F) {
	for _, s := range []string{"(a and b)", "(a if b else c)", "((a or b) with c)", "(x() >= 1:2-3 unless y)", "((((", "(a)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseRich(s)
		if err != nil {
			return
		}
		u := &universe{pkgs: []*pkg{nil}, prov: map[string][]provEntry{}, cache: map[string][]int32{}}
		if _, err := u.toCNF(e, false); err != nil && !errors.Is(err, errTooComplex) && !strings.Contains(err.Error(), "unsupported") {
			t.Fatalf("toCNF(%q): %v", s, err)
		}
		_ = u.evalRich(e, func(int32) bool { return false })
	})
}
