package file_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/file"
)

var _ platform.Platform = (*file.Platform)(nil)

func put(t *testing.T, root, path string, b []byte) {
	t.Helper()
	full := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMetadata(t *testing.T) {
	ctx := context.Background()
	want, err := os.ReadFile("testdata/metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	put(t, root, file.DefaultPath, want)
	put(t, root, "/srv/node.json", []byte(`{"apiVersion":"kiln/v1"}`))
	put(t, root, "/srv/blank.yaml", []byte("\n\n"))
	put(t, root, "/srv/huge.yaml", bytes.Repeat([]byte("#"), platform.MaxMetadataSize+1))

	if got, err := file.New(file.Options{Root: root}).Metadata(ctx); err != nil || !bytes.Equal(got, want) {
		t.Errorf("default path: %q, %v; want %q", got, err, want)
	}
	if got, err := file.New(file.Options{Root: root, Path: "/srv/node.json"}).Metadata(ctx); err != nil || string(got) != `{"apiVersion":"kiln/v1"}` {
		t.Errorf("custom path: %q, %v", got, err)
	}
	for _, p := range []string{"/srv/blank.yaml", "/srv/missing.yaml"} {
		if _, err := file.New(file.Options{Root: root, Path: p}).Metadata(ctx); !errors.Is(err, platform.ErrNoMetadata) {
			t.Errorf("%s: %v, want ErrNoMetadata", p, err)
		}
	}
	var bad *platform.BadMetadataError
	if _, err := file.New(file.Options{Root: root, Path: "/srv/huge.yaml"}).Metadata(ctx); !errors.As(err, &bad) {
		t.Errorf("huge file: %v, want BadMetadataError", err)
	}
	if _, err := file.New(file.Options{Root: root, Path: "/srv"}).Metadata(ctx); err == nil || errors.Is(err, platform.ErrNoMetadata) {
		t.Errorf("directory: %v, want a read error", err)
	}
}
