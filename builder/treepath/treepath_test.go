package treepath

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfineKeepsSymlinksInsideTheTree(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	os.Symlink("/etc/passwd", filepath.Join(root, "usr/bin/abs"))
	os.Symlink("../../../../../../etc", filepath.Join(root, "usr/bin/up"))
	os.Symlink("loop", filepath.Join(root, "loop"))
	for in, want := range map[string]string{
		"/bin/sh":          "/usr/bin/sh",
		"/bin/abs":         "/etc/passwd",
		"/bin/up/shadow":   "/etc/shadow",
		"/../../etc/x":     "/etc/x",
		"usr/./bin/../lib": "/usr/lib",
	} {
		got, err := Confine(root, in)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("Confine(%q) = %q, %v, want %q", in, got, err, filepath.Join(root, want))
		}
	}
	if _, err := Confine(root, "/loop/x"); err == nil {
		t.Error("Confine through a symlink loop succeeded")
	}
}
