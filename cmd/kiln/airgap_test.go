package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// airgapProfile serves the host distribution as a signed repository over
// HTTP and an image from a registry, both on the host's loopback, and
// writes a profile that uses them, with the repository's key beside it.
func airgapProfile(t *testing.T) string {
	t.Helper()
	distro, err := rpmtest.HostDistro()
	if err != nil {
		t.Fatal(err)
	}
	key := rpmtest.TestKey(t, "kiln air-gap test")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repoDir, "Packages"), 0o755)
	var pkgs []*repo.Package
	var names []string
	for _, p := range distro {
		data, err := p.Build(rpmtest.Options{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(repoDir, "Packages", p.FileName()), data, 0o644)
		rp := p.RepoPackage(data)
		rp.Location = "Packages/" + p.FileName()
		pkgs = append(pkgs, rp)
		names = append(names, p.Name)
	}
	if err := rpmtest.WriteRepo(repoDir, pkgs, rpmtest.RepoOptions{SignWith: key.Entity}); err != nil {
		t.Fatal(err)
	}
	if err := key.WritePublicKey(filepath.Join(dir, "RPM-GPG-KEY-test")); err != nil {
		t.Fatal(err)
	}
	srv := rpmtest.NewServer(t, map[string]string{"os": repoDir})

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	u, _ := url.Parse(reg.URL)
	ref := u.Host + "/pause:3.10.1"
	tag, _ := name.NewTag(ref)
	img, _ := random.Image(256, 1)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}

	profile := filepath.Join(dir, "node.yaml")
	doc := "apiVersion: kiln/v1\nkind: Profile\nname: node\nrepos:\n  - name: os\n    baseurl: " + srv.URL("os") +
		"\n    gpgkey: RPM-GPG-KEY-test\n    repo_gpgcheck: true\npackages: [" + strings.Join(names, ", ") +
		"]\ndisk:\n  size: 1GiB\noutputs: [raw, qcow2]\nimages:\n  - ref: " + ref + "\n"
	if err := os.WriteFile(profile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return profile
}

// inNetns runs kiln's main as a child in a new network namespace that has
// only a loopback interface (down, at that): no route to anything, the
// servers on the host's loopback included.
func inNetns(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "KILN_TEST_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestOfflineBuildRunsWithNoNetworkFromAFetchedCache(t *testing.T) {
	reftest.Root(t)
	reftest.Tools(t, "unshare", "ldd", "busybox", "grub-mkimage", "mke2fs", "sgdisk", "rpm")
	profile := airgapProfile(t)
	cache := t.TempDir()
	if _, err := run(t, "--cache-dir", cache, "lock", profile); err != nil {
		t.Fatal(err)
	}
	l, err := lock.ReadFile(lock.PathFor(profile))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Repos) != 1 || len(l.Repos[0].Keys) != 1 || len(l.Images) != 1 {
		t.Fatalf("lock pins repos %+v and images %+v, want one key and one image", l.Repos, l.Images)
	}
	out, err := run(t, "--cache-dir", cache, "fetch", "--images", profile)
	if err != nil || !strings.Contains(out, "packages verified") || !strings.Contains(out, "1 images pinned") {
		t.Fatalf("kiln fetch --images: %q, %v", out, err)
	}
	helpers := t.TempDir()
	for _, n := range []string{"kiln-init", "kiln-firstboot"} {
		os.WriteFile(filepath.Join(helpers, n), []byte("placeholder "+n), 0o755)
	}

	// The namespace really has no network: a fetch that must download
	// fails there.
	if _, stderr, err := inNetns(t, "--cache-dir", t.TempDir(), "fetch", profile); err == nil {
		t.Fatal("kiln fetch into an empty cache succeeded inside the network namespace: it is not air-gapped")
	} else {
		t.Logf("inside the namespace, a fetch that must download fails: %s", lastLine(stderr))
	}

	outDir := t.TempDir()
	stdout, stderr, err := inNetns(t, "--cache-dir", cache, "build", "--offline", profile, "-o", outDir, "--helpers-dir", helpers)
	if err != nil {
		t.Fatalf("kiln build --offline without network: %v\n%s", err, stderr)
	}
	for _, f := range []string{"node.raw", "node.qcow2", "node.manifest.json"} {
		if _, err := os.Stat(filepath.Join(outDir, f)); err != nil {
			t.Errorf("offline build wrote no %s: %v\n%s", f, err, stdout)
		}
	}
	if _, stderr, err := inNetns(t, "--cache-dir", cache, "fetch", "--offline", profile); err != nil {
		t.Errorf("kiln fetch --offline on a complete cache: %v\n%s", err, stderr)
	}

	// The image gone from the cache: the check names it.
	imgs, _ := filepath.Glob(filepath.Join(cache, "images", "*.tar"))
	if len(imgs) != 1 {
		t.Fatalf("cache holds images %v, want one", imgs)
	}
	saved := imgs[0] + ".saved"
	os.Rename(imgs[0], saved)
	_, stderr, err = inNetns(t, "--cache-dir", cache, "fetch", "--offline", profile)
	wantImg := "kiln: offline: image " + l.Images[0].Ref + "@" + l.Images[0].Digest + " is not in the cache " + cache + ";"
	if err == nil || !strings.HasPrefix(lastLine(stderr), wantImg) {
		t.Errorf("kiln fetch --offline without the image: %v, stderr %q, want a line starting %q", err, stderr, wantImg)
	}
	os.Rename(saved, imgs[0])

	// One package gone from the cache: one line naming it, nothing built.
	var gone lock.Package
	for _, p := range l.Packages {
		if p.Name == "kernel" {
			gone = p
		}
	}
	_, sum, _ := strings.Cut(gone.Checksum, ":")
	if err := os.Remove(filepath.Join(cache, "packages", "sha256", sum+".rpm")); err != nil {
		t.Fatal(err)
	}
	outDir = t.TempDir()
	_, stderr, err = inNetns(t, "--cache-dir", cache, "build", "--offline", profile, "-o", outDir, "--helpers-dir", helpers)
	// Progress lines (==> fetch) go to stderr too; the error is the one
	// line that starts with "kiln:".
	want := "kiln: fetch: offline: package " + gone.NEVRA() + " is not in the cache " + cache + "; run `kiln fetch --images " + profile + "` where there is network and carry the cache over"
	var errLines []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(line, "kiln:") {
			errLines = append(errLines, line)
		}
	}
	if err == nil || len(errLines) != 1 || errLines[0] != want {
		t.Errorf("offline build with %s missing: %v, stderr\n%q\nwant\n%q", gone.NEVRA(), err, stderr, want)
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Errorf("the failed offline build left %d entries in the output directory", len(ents))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
