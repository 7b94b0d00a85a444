package reposource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/spec"
)

// profileWithKey writes key as dir/RPM-GPG-KEY and returns a profile whose
// one repository names it, loaded from dir/node.yaml.
func profileWithKey(t *testing.T, key *rpmtest.Key) (*spec.Profile, string) {
	t.Helper()
	dir := t.TempDir()
	if err := key.WritePublicKey(filepath.Join(dir, "RPM-GPG-KEY")); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: kiln/v1\nkind: Profile\nname: node\nrepos:\n  - name: base\n    baseurl: https://example.com/os/\n    gpgkey: RPM-GPG-KEY\npackages: [bash]\n"
	path := filepath.Join(dir, "node.yaml")
	os.WriteFile(path, []byte(doc), 0o644)
	p, err := spec.Load(path, spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p, dir
}

func pinned(t *testing.T, p *spec.Profile) *lock.Lock {
	t.Helper()
	srcs, err := Load(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := lock.New(p, nil)
	if l.Repos, err = Pin(srcs); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLockedTakesTheKeysFromTheLock(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	p, dir := profileWithKey(t, key)
	l := pinned(t, p)
	if fp := l.Repos[0].Keys[0].Fingerprint; fp != Fingerprint(key.Entity) || len(fp) != 40 {
		t.Fatalf("lock pins fingerprint %q, want %s", fp, Fingerprint(key.Entity))
	}
	// Round trip through the file: the armored key reads back.
	path := filepath.Join(dir, "node.lock")
	if err := l.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	l, err := lock.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, offline := range []bool{false, true} {
		srcs, err := Locked(context.Background(), p, l, Options{Offline: offline})
		if err != nil {
			t.Fatalf("Locked(offline=%v) = %v", offline, err)
		}
		if len(srcs) != 1 || len(srcs[0].Keys) != 1 || srcs[0].Keys[0].PrimaryKey.KeyId != key.KeyID() || !srcs[0].GPGCheck {
			t.Errorf("Locked(offline=%v) = %+v", offline, srcs)
		}
	}
	// With the key file gone offline is still refused: the profile names it.
	os.Remove(filepath.Join(dir, "RPM-GPG-KEY"))
	if _, err := Locked(context.Background(), p, l, Options{Offline: true}); err == nil || !strings.Contains(err.Error(), "repos[0] (base): loading gpgkey") {
		t.Errorf("Locked with the key file gone = %v", err)
	}
}

func TestLockedRefusesAChangedKeyOrALockWithoutKeys(t *testing.T) {
	ctx := context.Background()
	p, dir := profileWithKey(t, rpmtest.TestKey(t, "alpha"))
	l := pinned(t, p)
	other := rpmtest.TestKey(t, "beta")
	if err := other.WritePublicKey(filepath.Join(dir, "RPM-GPG-KEY")); err != nil {
		t.Fatal(err)
	}
	for _, offline := range []bool{false, true} {
		_, err := Locked(ctx, p, l, Options{Offline: offline})
		var kc *lock.KeyChangedError
		if !errors.As(err, &kc) || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), "holds key "+Fingerprint(other.Entity)+", which the lock does not pin") ||
			!strings.HasSuffix(err.Error(), "run `kiln lock "+filepath.Join(dir, "node.yaml")+"` again") {
			t.Errorf("Locked(offline=%v) with a changed key = %v", offline, err)
		}
	}

	// An armored key that is not the fingerprint it is filed under.
	p2, _ := profileWithKey(t, rpmtest.TestKey(t, "alpha"))
	l2 := pinned(t, p2)
	l2.Repos[0].Keys[0].Fingerprint = strings.Repeat("A", 40)
	if _, err := Locked(ctx, p2, l2, Options{}); err == nil || !strings.Contains(err.Error(), "not the "+strings.Repeat("A", 40)+" it names") {
		t.Errorf("Locked with a mislabelled key = %v", err)
	}

	l2.Repos = nil
	var nk *lock.NoKeysError
	if _, err := Locked(ctx, p2, l2, Options{}); !errors.As(err, &nk) || !strings.Contains(err.Error(), "written by an older kiln") {
		t.Errorf("Locked with a lock that pins no keys = %v", err)
	}
}
