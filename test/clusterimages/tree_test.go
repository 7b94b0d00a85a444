package clusterimages

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Symlinks in the Debian tree are resolved inside it: an absolute target
// or a climb through ".." never reaches the host's files.
func TestCopyFromRootStaysInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/lib", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"lib":          "usr/lib",
		"usr/lib/abs":  "/etc",
		"usr/lib/up":   "../../../../../../etc",
		"usr/lib/loop": "loop",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"/lib/abs/hostname", "/etc/hostname"},
		{"/lib/up/hostname", "/etc/hostname"},
		{"lib/../lib/abs/hostname", "/etc/hostname"},
		{"/lib/loop/x", "too many levels of symbolic links"},
	} {
		tr := NewTree()
		got, err := tr.CopyFromRoot(root, tc.path, false)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("CopyFromRoot(%q) = %q, want %q", tc.path, got, tc.want)
			continue
		}
		if err != nil {
			continue
		}
		var buf bytes.Buffer
		if err := tr.WriteTar(&buf, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		r := tar.NewReader(&buf)
		var names []string
		for h, err := r.Next(); err == nil; h, err = r.Next() {
			names = append(names, h.Name)
		}
		if want := "etc/ etc/hostname lib usr/ usr/lib/ usr/lib/"; !strings.HasPrefix(strings.Join(names, " "), want) {
			t.Errorf("CopyFromRoot(%q) wrote %q, want %q...", tc.path, names, want)
		}
	}
}

func TestWriteTarRefusesAFileUnderASymlink(t *testing.T) {
	tr := NewTree()
	if err := tr.Symlink("bin", "usr/bin"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Data("bin/sh", []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := tr.WriteTar(&bytes.Buffer{}, time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "/bin/sh is under /bin, which is not a directory") {
		t.Errorf("WriteTar = %v", err)
	}
	if err := tr.Data("bin/sh", []byte("y"), 0o755); err == nil {
		t.Error("adding /bin/sh twice with different content succeeded")
	}
}
