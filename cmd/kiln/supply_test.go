package main

import (
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/kiln-build/kiln/builder/rpm/lock"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// supplyRepo serves a small signed repository (signed repomd too) with
// the seed's kubelet/kubernetes-cni trap in it, and returns a profile
// directory whose node.yaml uses it.
func supplyRepo(t *testing.T, packages ...string) (profile string, srv *rpmtest.Server) {
	t.Helper()
	key := rpmtest.TestKey(t, "kiln cli test")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repoDir, "Packages"), 0o755)
	fixtures := []*rpmtest.Package{
		{Name: "kubelet", Version: "1.12.2", Release: "0", Arch: "x86_64", Requires: rpmtest.Deps("kubernetes-cni = 0.6.0", "/usr/sbin/iptables")},
		{Name: "kubelet", Version: "1.34.2", Release: "150500.1.1", Arch: "x86_64", Requires: rpmtest.Deps("kubernetes-cni >= 1.1.1", "/usr/sbin/iptables")},
		{Name: "kubernetes-cni", Version: "0.6.0", Release: "0", Arch: "x86_64"},
		{Name: "kubernetes-cni", Version: "0.7.5", Release: "0", Arch: "x86_64"},
		{Name: "kubernetes-cni", Version: "1.7.1", Release: "150500.1.1", Arch: "x86_64"},
		{Name: "kubeadm", Version: "1.34.2", Release: "150500.1.1", Arch: "x86_64", Requires: rpmtest.Deps("kubelet", "(cri-tools or docker-ce)")},
		{Name: "cri-tools", Version: "1.34.0", Release: "150500.1.1", Arch: "x86_64"},
		{Name: "iptables-nft", Version: "1.8.10", Release: "4.el9", Arch: "x86_64",
			Files: []rpmtest.File{{Path: "/usr/sbin/iptables-nft", Mode: 0o755, Content: "x"}, {Path: "/usr/sbin/iptables", Mode: 0o777 | os.ModeSymlink, Target: "iptables-nft"}}},
	}
	var pkgs []*repo.Package
	for _, p := range fixtures {
		data, err := p.Build(rpmtest.Options{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(repoDir, "Packages", p.FileName()), data, 0o644)
		pkgs = append(pkgs, p.RepoPackage(data))
	}
	if err := rpmtest.WriteRepo(repoDir, pkgs, rpmtest.RepoOptions{Compression: "zst", SignWith: key.Entity}); err != nil {
		t.Fatal(err)
	}
	srv = rpmtest.NewServer(t, map[string]string{"k8s": repoDir})
	key.WritePublicKey(filepath.Join(dir, "RPM-GPG-KEY-test"))
	profile = filepath.Join(dir, "node.yaml")
	writeProfile(t, profile, srv.URL("k8s"), packages...)
	return profile, srv
}

func writeProfile(t *testing.T, path, baseurl string, packages ...string) {
	t.Helper()
	doc := "apiVersion: kiln/v1\nkind: Profile\nname: node\nrepos:\n  - name: k8s\n    baseurl: " + baseurl +
		"\n    gpgkey: RPM-GPG-KEY-test\n    repo_gpgcheck: true\npackages: [" + strings.Join(packages, ", ") + "]\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResolveLockFetch(t *testing.T) {
	profile, srv := supplyRepo(t, "kubeadm", "kubelet-1.34.2")
	cache := t.TempDir()
	out, err := run(t, "--cache-dir", cache, "resolve", profile)
	if err != nil {
		t.Fatal(err)
	}
	want := "cri-tools-1.34.0-150500.1.1.x86_64\niptables-nft-1.8.10-4.el9.x86_64\nkubeadm-1.34.2-150500.1.1.x86_64\nkubelet-1.34.2-150500.1.1.x86_64\nkubernetes-cni-1.7.1-150500.1.1.x86_64\n"
	if out != want {
		t.Errorf("kiln resolve printed\n%s\nwant\n%s", out, want)
	}

	out, err = run(t, "--cache-dir", cache, "lock", profile)
	lockPath := strings.TrimSuffix(profile, ".yaml") + ".lock"
	if err != nil || !strings.Contains(out, lockPath+": 5 packages") {
		t.Fatalf("kiln lock: %q, %v", out, err)
	}
	// Fetch uses the lock: the repository's metadata is not read again.
	before := srv.Requests("/k8s/repodata/repomd.xml")
	if before == 0 {
		t.Fatal("resolve and lock never read repomd.xml")
	}
	out, err = run(t, "--cache-dir", cache, "fetch", profile)
	if err != nil || !strings.Contains(out, "5 packages verified") || !strings.Contains(out, "5 downloaded") {
		t.Fatalf("kiln fetch: %q, %v", out, err)
	}
	if srv.Requests("/k8s/repodata/repomd.xml") != before {
		t.Error("fetch read repomd.xml although a current lock exists")
	}
	if n, _ := filepath.Glob(filepath.Join(cache, "packages", "sha256", "*.rpm")); len(n) != 5 {
		t.Errorf("cache holds %d packages, want 5", len(n))
	}
	out, err = run(t, "--cache-dir", cache, "fetch", profile)
	if err != nil || !strings.Contains(out, "5 already cached") {
		t.Errorf("second fetch: %q, %v", out, err)
	}

	// The lock pins the repository's key: one that changed at its location
	// is refused with the way out, and the lock made again takes it.
	keyPath := filepath.Join(filepath.Dir(profile), "RPM-GPG-KEY-test")
	good, _ := os.ReadFile(keyPath)
	rpmtest.TestKey(t, "someone else").WritePublicKey(keyPath)
	_, err = run(t, "--cache-dir", cache, "fetch", profile)
	if err == nil || !strings.Contains(err.Error(), "the key changed since the lock was written") || !strings.HasSuffix(err.Error(), "run `kiln lock "+profile+"` again") {
		t.Errorf("fetch with a changed key: %v", err)
	}
	os.WriteFile(keyPath, good, 0o644)

	// A changed pin makes the lock stale: refused, with the way out.
	writeProfile(t, profile, srv.URL("k8s"), "kubeadm", "kubelet-1.12.2")
	_, err = run(t, "--cache-dir", cache, "fetch", profile)
	if err == nil || !strings.Contains(err.Error(), "is stale") || !strings.Contains(err.Error(), "run `kiln lock "+profile+"` to refresh it") {
		t.Errorf("stale lock: %v", err)
	}
}

func TestResolveExplainsConflicts(t *testing.T) {
	profile, _ := supplyRepo(t, "kubelet-1.12.2", "kubernetes-cni-0.7.5")
	_, err := run(t, "--cache-dir", t.TempDir(), "resolve", profile)
	if err == nil || !strings.Contains(err.Error(), "kubelet-1.12.2-0.x86_64 requires kubernetes-cni = 0.6.0") || !strings.Contains(err.Error(), "kubernetes-cni-0.7.5") {
		t.Errorf("kiln resolve error = %v", err)
	}
	if strings.Contains(oneLine(err), "\n") {
		t.Error("error is not one line")
	}
	profile2, _ := supplyRepo(t, "kubeadm-9.9")
	if _, err := run(t, "--cache-dir", t.TempDir(), "resolve", profile2); err == nil || !strings.Contains(err.Error(), `no package matches "kubeadm-9.9"`) {
		t.Errorf("no match: %v", err)
	}
}

func TestResolveRefusesUnsignedOrForeignRepoMetadata(t *testing.T) {
	profile, srv := supplyRepo(t, "kubeadm")
	srv.FailPath("/k8s/repodata/repomd.xml.asc", 404)
	_, err := run(t, "--cache-dir", t.TempDir(), "resolve", profile)
	if err == nil || !strings.Contains(err.Error(), "repos[0] (k8s)") {
		t.Errorf("resolve without repomd.xml.asc: %v", err)
	}

	profile, _ = supplyRepo(t, "kubeadm")
	other := rpmtest.TestKey(t, "someone else")
	if err := other.WritePublicKey(filepath.Join(filepath.Dir(profile), "RPM-GPG-KEY-test")); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "--cache-dir", t.TempDir(), "resolve", profile)
	if err == nil || !strings.Contains(err.Error(), "repos[0] (k8s)") {
		t.Errorf("resolve with repomd signed by an unknown key: %v", err)
	}
}

func TestLockPinsContainerImages(t *testing.T) {
	profile, _ := supplyRepo(t, "kubeadm")
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	u, _ := url.Parse(reg.URL)
	ref := u.Host + "/pause:3.10.1"
	tag, _ := name.NewTag(ref)
	img, _ := random.Image(256, 1)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile(profile)
	os.WriteFile(profile, append(doc, []byte("images:\n  - ref: "+ref+"\n")...), 0o644)
	out, err := run(t, "--cache-dir", t.TempDir(), "lock", profile)
	if err != nil || !strings.Contains(out, "1 images pinned") {
		t.Fatalf("kiln lock: %q, %v", out, err)
	}
	l, err := lock.ReadFile(strings.TrimSuffix(profile, ".yaml") + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if l.ImageDigest(ref) != want.String() {
		t.Errorf("lock pins %q, want %s", l.ImageDigest(ref), want)
	}
}
