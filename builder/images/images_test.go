package images

import (
	"context"
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
	srv := httptest.NewServer(registry.New())
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
}

func TestStageRefusesWhatIsNotAnImage(t *testing.T) {
	bogus := filepath.Join(t.TempDir(), "x.tar")
	os.WriteFile(bogus, []byte("not a tar"), 0o644)
	err := Stage(context.Background(), []spec.Image{{Ref: "registry.k8s.io/pause:3.10.1", Archive: bogus}}, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "is not a docker-save or OCI image archive") {
		t.Errorf("Stage() = %v", err)
	}
	if err := Stage(context.Background(), []spec.Image{{Ref: "UPPER/case:x"}}, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "not an image reference") {
		t.Errorf("bad ref: %v", err)
	}
}
