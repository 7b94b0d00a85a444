package lock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
	"github.com/kiln-build/kiln/builder/spec"
)

func profile(pkgs ...string) *spec.Profile {
	p := &spec.Profile{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: "node", Packages: pkgs,
		Repos: []spec.Repo{{Name: "base", BaseURL: spec.StringList{"https://example.com/os/"}, GPGKey: spec.StringList{"/k"}}}}
	p.ApplyDefaults()
	return p
}

func pkg(nevr, arch string) *repo.Package {
	name, evr, _ := strings.Cut(nevr, " ")
	return &repo.Package{Name: name, Arch: arch, EVR: version.MustParse(evr), Repo: "base",
		Location: "Packages/" + name + ".rpm", Checksum: repo.Checksum{Type: "sha256", Value: strings.Repeat("ab", 32)}, Size: 1234, BuildTime: 1700000000}
}

func TestRoundTripAndSortedOutput(t *testing.T) {
	p := profile("kubeadm", "kernel")
	l := New(p, []*repo.Package{pkg("kubeadm 1.34.2-150500.1.1", "x86_64"), pkg("docker-ce 3:28.5.1-1.el9", "x86_64"), pkg("bash 5.1.8-9.el9", "x86_64")})
	path := filepath.Join(t.TempDir(), "node.lock")
	if err := l.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nevras []string
	for _, p := range got.Packages {
		nevras = append(nevras, p.NEVRA())
	}
	want := "bash-5.1.8-9.el9.x86_64 docker-ce-3:28.5.1-1.el9.x86_64 kubeadm-1.34.2-150500.1.1.x86_64"
	if strings.Join(nevras, " ") != want {
		t.Errorf("packages = %v, want %s", nevras, want)
	}
	if got.Digest() != l.Digest() {
		t.Error("digest changed across a write and read")
	}
	if rp := got.Packages[1].RepoPackage(); rp.Checksum.Type != "sha256" || rp.EVR.Epoch != 3 || rp.NEVRA() != "docker-ce-3:28.5.1-1.el9.x86_64" {
		t.Errorf("RepoPackage() = %+v", rp)
	}
	if err := got.Check(p, path, "node.yaml"); err != nil {
		t.Errorf("fresh lock reported stale: %v", err)
	}
}

func TestStaleWhenInputsChange(t *testing.T) {
	base := profile("kubeadm-1.34.2")
	l := New(base, nil)
	for _, tc := range []struct {
		name   string
		change func(*spec.Profile)
		stale  bool
	}{
		{"same", func(*spec.Profile) {}, false},
		{"package added", func(p *spec.Profile) { p.Packages = append([]string{"kernel"}, p.Packages...) }, true},
		{"package order", func(p *spec.Profile) { p.Packages = []string{"kubeadm-1.34.2"} }, false},
		{"pin changed", func(p *spec.Profile) { p.Packages = []string{"kubeadm-1.34.1"} }, true},
		{"repo added", func(p *spec.Profile) {
			p.Repos = append(p.Repos, spec.Repo{Name: "k8s", BaseURL: spec.StringList{"https://x/"}})
		}, true},
		{"exclude", func(p *spec.Profile) { p.Exclude = []string{"firewalld"} }, true},
		{"weak deps", func(p *spec.Profile) { t := true; p.InstallWeakDeps = &t }, true},
		{"priority", func(p *spec.Profile) { p.Repos[0].Priority = 10 }, true},
		{"image setting", func(p *spec.Profile) { p.Sysctl = map[string]string{"vm.swappiness": "0"} }, false},
		{"container image added", func(p *spec.Profile) { p.Images = []spec.Image{{Ref: "registry.k8s.io/pause:3.10.1"}} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profile("kubeadm-1.34.2")
			tc.change(p)
			err := l.Check(p, "node.lock", "node.yaml")
			var se *StaleError
			if got := errors.As(err, &se); got != tc.stale {
				t.Fatalf("Check() = %v, want stale=%v", err, tc.stale)
			}
			if tc.stale && !strings.Contains(err.Error(), "run `kiln lock node.yaml` to refresh it") {
				t.Errorf("message %q does not say how to refresh", err)
			}
		})
	}
}

func TestParseRejectsBadLocks(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not json", "hello", "not a kiln lockfile"},
		{"unknown field", `{"lockVersion":1,"extra":1}`, "not a kiln lockfile"},
		{"future version", `{"lockVersion":9}`, "x.lock: lockVersion: 9 is not supported"},
		{"no checksum", `{"lockVersion":1,"packages":[{"name":"a","version":"1","release":"1","arch":"x86_64","repo":"r","location":"a.rpm","checksum":"abc","size":1}]}`, `x.lock: packages[0].checksum: a-1-1.x86_64: "abc" is not TYPE:HEX`},
		{"bad image digest", `{"lockVersion":1,"images":[{"ref":"registry.k8s.io/pause:3.10.1","digest":"latest"}]}`, `images[0]: want a ref and a sha256:HEX digest`},
		{"missing location", `{"lockVersion":1,"packages":[{"name":"a","version":"1","release":"1","arch":"x86_64","repo":"r","checksum":"sha256:ab","size":1}]}`, "location are required"},
	} {
		if _, err := Parse("x.lock", []byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse() error = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing lock: %v", err)
	}
}

func TestPathFor(t *testing.T) {
	for in, want := range map[string]string{"node.yaml": "node.lock", "a/b.yml": "a/b.lock", "rocky9-k8s": "rocky9-k8s.lock"} {
		if got := PathFor(in); got != want {
			t.Errorf("PathFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDigestLeavesOutTheKeysAndOlderLocksStillRead(t *testing.T) {
	p := profile("kubeadm")
	l := New(p, []*repo.Package{pkg("kubeadm 1.34.2-150500.1.1", "x86_64")})
	older, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	before := l.Digest()
	l.Repos = []Repo{{Name: "base", Keys: []Key{{Fingerprint: strings.Repeat("AB", 20), Armored: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n"}}}}
	if l.Digest() != before {
		t.Error("pinning keys changed the lock digest, which seeds the image's UUIDs")
	}
	data, _ := l.Marshal()
	if !strings.Contains(string(data), `"fingerprint": "`+strings.Repeat("AB", 20)+`"`) {
		t.Errorf("the lock file does not show the fingerprint:\n%s", data)
	}
	// A lock written before keys were recorded reads; fetch and build
	// refuse it later (reposource.Locked), with the way out.
	got, err := Parse("old.lock", older)
	if err != nil || got.Repos != nil || got.Digest() != before {
		t.Errorf("Parse(older lock) = %+v, %v", got, err)
	}
	if msg := (&NoKeysError{Profile: "node.yaml"}).Error(); !strings.Contains(msg, "run `kiln lock node.yaml` again") {
		t.Errorf("NoKeysError = %q", msg)
	}
	bad := strings.Replace(string(data), "BEGIN PGP PUBLIC KEY BLOCK", "BEGIN SOMETHING", 1)
	if _, err := Parse("bad.lock", []byte(bad)); err == nil || !strings.Contains(err.Error(), "bad.lock: repos[0].keys[0]: repo base:") {
		t.Errorf("Parse(lock with a non-key) = %v", err)
	}
}
