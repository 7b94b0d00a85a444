package containerimages

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/builder/spec"
)

// A registry in the test process (go-containerregistry's own) serves a
// random image; Stage pulls it into the tree, from the cache the second
// time, and the archive loads back as the same image.
func TestStagePullsArchivesAndCaches(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref := u.Host + "/pause:3.10.1"
	tag, _ := name.NewTag(ref)
	if err := remote.Write(tag, img, remote.WithContext(context.Background())); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	archive := filepath.Join(t.TempDir(), "coredns.tar")
	ctag, _ := name.NewTag("registry.k8s.io/coredns/coredns:v1.12.1")
	if err := tarball.WriteToFile(archive, ctag, img); err != nil {
		t.Fatal(err)
	}

	root, cache := t.TempDir(), t.TempDir()
	mtime := time.Unix(1700000000, 0)
	imgs := []spec.Image{{Ref: ref}, {Ref: "registry.k8s.io/coredns/coredns:v1.12.1", Archive: archive}}
	if err := Stage(context.Background(), imgs, root, Options{CacheDir: cache, ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	for _, im := range imgs {
		p := filepath.Join(root, Dir, FileName(im.Ref))
		got, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("%s: digest %s, want %s", p, d, want)
		}
		if st, _ := os.Stat(p); !st.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v", p, st.ModTime())
		}
	}
	cached, _ := filepath.Glob(filepath.Join(cache, "images", "sha256-*"))
	if len(cached) != 1 {
		t.Fatalf("cache holds %v", cached)
	}

	// With the registry gone, the cache answers... only once the digest is
	// known, which needs the registry: a moved tag must not be served stale.
	srv.Close()
	err = Stage(context.Background(), imgs[:1], t.TempDir(), Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "images[0] ("+ref+"): pulling") {
		t.Errorf("pull without a registry: %v", err)
	}
	// Pinned by the lock, the digest is known without the registry: the
	// cache answers, offline too, with the same bytes as the first pull.
	pinned := map[string]string{ref: want.String()}
	again := t.TempDir()
	if err := Stage(context.Background(), imgs[:1], again, Options{CacheDir: cache, Pinned: pinned, Offline: true}); err != nil {
		t.Fatalf("offline stage of a pinned, cached image: %v", err)
	}
	first, _ := os.ReadFile(filepath.Join(root, Dir, FileName(ref)))
	second, _ := os.ReadFile(filepath.Join(again, Dir, FileName(ref)))
	if string(first) != string(second) {
		t.Error("the archive staged from the cache differs from the one pulled")
	}
	if err := Fetch(context.Background(), imgs, Options{CacheDir: cache, Pinned: pinned, Offline: true}); err != nil {
		t.Errorf("Fetch(offline) with everything cached: %v", err)
	}
	var nc *NotCachedError
	err = Fetch(context.Background(), imgs[:1], Options{CacheDir: t.TempDir(), Pinned: pinned, Offline: true})
	if !errors.As(err, &nc) || nc.Ref != ref || nc.Digest != want.String() {
		t.Errorf("Fetch(offline, empty cache) = %v, want a NotCachedError for %s", err, ref)
	}
	err = Stage(context.Background(), imgs[:1], t.TempDir(), Options{CacheDir: t.TempDir(), Pinned: pinned, Offline: true})
	if !errors.As(err, &nc) {
		t.Errorf("Stage(offline, empty cache) = %v, want a NotCachedError", err)
	}
}

func TestStageRefusesWhatIsNotAnImage(t *testing.T) {
	bogus := filepath.Join(t.TempDir(), "x.tar")
	os.WriteFile(bogus, []byte("not a tar"), 0o644)
	err := Stage(context.Background(), []spec.Image{{Ref: "registry.k8s.io/pause:3.10.1", Archive: bogus}}, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "is not a docker-save image archive") {
		t.Errorf("Stage() = %v", err)
	}
	if err := Stage(context.Background(), []spec.Image{{Ref: "UPPER/case:x"}}, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "not an image reference") {
		t.Errorf("bad ref: %v", err)
	}
}

// The lock pins digests: a build pulls the pinned image even after the
// tag moved, and an archive that changed is refused.
func TestPinnedImagesSurviveAMovedTag(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref := u.Host + "/kube-apiserver:v1.34.2"
	tag, _ := name.NewTag(ref)
	first, _ := random.Image(512, 1)
	if err := remote.Write(tag, first); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "a.tar")
	if err := tarball.WriteToFile(archive, tag, first); err != nil {
		t.Fatal(err)
	}
	imgs := []spec.Image{{Ref: ref}, {Ref: "registry.k8s.io/pause:3.10.1", Archive: archive}}
	pins, err := Pin(context.Background(), imgs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := first.Digest()
	if pins[0] != want.String() || pins[1] != want.String() {
		t.Fatalf("Pin() = %v, want both %s", pins, want)
	}
	second, _ := random.Image(512, 1)
	if err := remote.Write(tag, second); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	pinned := map[string]string{ref: pins[0], imgs[1].Ref: pins[1]}
	if err := Stage(context.Background(), imgs, root, Options{Pinned: pinned}); err != nil {
		t.Fatal(err)
	}
	got, err := tarball.ImageFromPath(filepath.Join(root, Dir, FileName(ref)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("staged %s, want the pinned %s (the tag now points elsewhere)", d, want)
	}
	if err := tarball.WriteToFile(archive, tag, second); err != nil {
		t.Fatal(err)
	}
	err = Stage(context.Background(), imgs[1:], t.TempDir(), Options{Pinned: pinned})
	if err == nil || !strings.Contains(err.Error(), "but the lock pins "+pins[1]) {
		t.Errorf("changed archive: %v", err)
	}
}
