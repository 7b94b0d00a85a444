package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A profile that is deprecated, by its own deprecated: line or by one it
// extends, warns on stderr when it is built or locked, before anything
// else can fail, and says so in `kiln profiles list`.
func TestDeprecatedProfileWarns(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.yaml")
	if err := os.WriteFile(old, []byte(`apiVersion: kiln/v1
kind: Profile
name: old
deprecated: Old OS 1 reached its end of life on 2020-01-01; use new instead
repos: [{name: base, baseurl: "file:///nonexistent/kiln-test/", gpgcheck: false}]
packages: [kernel]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(node, []byte("apiVersion: kiln/v1\nkind: Profile\nname: node\nextends: old.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "kiln: warning: profile node is deprecated: Old OS 1 reached its end of life on 2020-01-01; use new instead\n"
	_, stderr, err := runSplit(t, "build", node, "-o", filepath.Join(dir, "out"), "--lock", filepath.Join(dir, "none.lock"))
	if err == nil || !isMissingLock(err) {
		t.Errorf("kiln build without a lock: %v, want the missing lock error", err)
	}
	if stderr != want {
		t.Errorf("kiln build stderr = %q, want %q", stderr, want)
	}

	// The repository is not there: lock fails, after the warning.
	_, stderr, err = runSplit(t, "--cache-dir", filepath.Join(dir, "cache"), "lock", node, "--lock", filepath.Join(dir, "node.lock"))
	if err == nil || !strings.HasPrefix(stderr, want) {
		t.Errorf("kiln lock: %v, stderr %q, want it to start with %q", err, stderr, want)
	}

	_, stderr, err = runSplit(t, "build", filepath.Join(dir, "old.yaml"), "-o", filepath.Join(dir, "out"), "--lock", filepath.Join(dir, "none.lock"))
	if want := "profile old is deprecated"; err == nil || !strings.Contains(stderr, want) {
		t.Errorf("kiln build old.yaml: stderr %q, want it to contain %q", stderr, want)
	}
}
