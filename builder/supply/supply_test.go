package supply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/builder/reposource"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/spec"
)

// signedRepo writes two signed packages into a file:// repository and
// returns a profile that uses it (key beside it) and its lock, keys pinned.
func signedRepo(t *testing.T) (*spec.Profile, *lock.Lock) {
	t.Helper()
	key := rpmtest.TestKey(t, "kiln supply test")
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	var pkgs []*repo.Package
	for _, p := range []*rpmtest.Package{
		{Name: "alpha", Version: "1.0", Release: "1", Arch: "noarch"},
		{Name: "beta", Version: "2.0", Release: "1", Arch: "noarch"},
	} {
		data := p.MustBuild(rpmtest.Options{Key: key})
		os.MkdirAll(filepath.Join(repoDir, "Packages"), 0o755)
		if err := os.WriteFile(filepath.Join(repoDir, "Packages", p.FileName()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rp := p.RepoPackage(data)
		rp.Repo, rp.Location = "base", "Packages/"+p.FileName()
		pkgs = append(pkgs, rp)
	}
	key.WritePublicKey(filepath.Join(dir, "RPM-GPG-KEY"))
	img, _ := random.Image(128, 1)
	tag, _ := name.NewTag("kiln.test/pause:1")
	archive := filepath.Join(dir, "pause.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: kiln/v1\nkind: Profile\nname: node\nrepos:\n  - name: base\n    baseurl: file://" + repoDir +
		"\n    gpgkey: RPM-GPG-KEY\npackages: [alpha, beta]\nimages:\n  - ref: kiln.test/pause:1\n    archive: pause.tar\n"
	os.WriteFile(filepath.Join(dir, "node.yaml"), []byte(doc), 0o644)
	p, err := spec.Load(filepath.Join(dir, "node.yaml"), spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := lock.New(p, pkgs)
	srcs, err := reposource.Load(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Repos, err = reposource.Pin(srcs); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	l.Images = []lock.Image{{Ref: "kiln.test/pause:1", Digest: d.String()}}
	return p, l
}

func TestOfflineNamesTheFirstMissingPackageThenPassesOnceFetched(t *testing.T) {
	ctx := context.Background()
	p, l := signedRepo(t)
	cache := t.TempDir()
	_, err := Locked(ctx, p, l, Options{CacheDir: cache, Offline: true})
	var me *MissingError
	if !errors.As(err, &me) || me.What != "package" || me.Name != "alpha-1.0-1.noarch" || !errors.Is(err, fetch.ErrNotCached) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Locked(offline, empty cache) = %v, want one line naming alpha-1.0-1.noarch", err)
	}
	s, err := Locked(ctx, p, l, Options{CacheDir: cache, Images: true})
	if err != nil || len(s.Packages) != 2 || s.Packages[0].Cached {
		t.Fatalf("Locked(online) = %+v, %v", s, err)
	}
	s, err = Locked(ctx, p, l, Options{CacheDir: cache, Offline: true})
	if err != nil || !s.Packages[1].Cached {
		t.Fatalf("Locked(offline, filled cache) = %+v, %v", s, err)
	}

	// An archive image that went missing is named too.
	os.Remove(filepath.Join(filepath.Dir(p.Source()), "pause.tar"))
	if _, err := Locked(ctx, p, l, Options{CacheDir: cache, Offline: true}); err == nil || !strings.Contains(err.Error(), "images[0] (kiln.test/pause:1)") {
		t.Errorf("Locked(offline, archive gone) = %v", err)
	}
}

func TestLockedRefusesAStaleLock(t *testing.T) {
	p, l := signedRepo(t)
	p.Packages = append(p.Packages, "gamma")
	var se *lock.StaleError
	if _, err := Locked(context.Background(), p, l, Options{CacheDir: t.TempDir()}); !errors.As(err, &se) {
		t.Errorf("Locked(stale lock) = %v", err)
	}
}
