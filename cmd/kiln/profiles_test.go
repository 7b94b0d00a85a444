package main

import (
	"encoding/json"
	"errors"
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

// The built-in CentOS 7 profiles are deprecated (CentOS 7 is past its end
// of life): building one warns, and profiles list says so.
func TestBuildingCentOS7WarnsItIsEndOfLife(t *testing.T) {
	dir := t.TempDir()
	_, stderr, err := runSplit(t, "build", "centos7-k8s", "-o", filepath.Join(dir, "out"), "--lock", filepath.Join(dir, "none.lock"))
	if !isMissingLock(err) {
		t.Errorf("kiln build centos7-k8s without a lock: %v, want the missing lock error", err)
	}
	if want := "kiln: warning: profile centos7-k8s is deprecated: CentOS 7 reached its end of life on 2024-06-30"; !strings.HasPrefix(stderr, want) {
		t.Errorf("kiln build centos7-k8s stderr = %q, want it to start with %q", stderr, want)
	}

	out, err := run(t, "profiles", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Name, Deprecated string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if eol := strings.HasPrefix(r.Name, "centos7"); eol != strings.Contains(r.Deprecated, "end of life") {
			t.Errorf("profiles list -o json: %s deprecated = %q", r.Name, r.Deprecated)
		}
	}
	out, err = run(t, "profiles", "list")
	if err != nil || !strings.Contains(out, "centos7  ") || !strings.Contains(out, "DEPRECATED: CentOS 7.9.2009") {
		t.Errorf("profiles list = %v\n%s\nwant centos7 marked DEPRECATED", err, out)
	}
}

// isMissingLock reports whether err is kiln build's "run kiln lock first".
func isMissingLock(err error) bool {
	var m *missingLockError
	return errors.As(err, &m)
}
