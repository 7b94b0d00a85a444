// Package reftest is how kiln's tests find the reference tools they
// compare against (rpm, createrepo_c, e2fsck, qemu-img, a real kubeadm...).
// A missing tool skips the test on a developer's machine and fails it in
// CI (CI is set there, and .ci/run installs every tool), so a green CI run
// always means the oracle really ran.
//
//	rpm := reftest.Tool(t, "rpm")
//	reftest.Root(t) // mounts, chroot, device nodes
package reftest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") != "" }

// Missing skips the test, or fails it in CI, saying what is missing.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("%s (required in CI: `make deps` installs it)", msg)
	}
	tb.Skip(msg)
}

// Tool returns the path of a program on PATH (or an absolute path that
// exists), or skips/fails the test as Missing does.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s not installed", name)
	}
	return p
}

// Tools is Tool for several programs.
func Tools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		Tool(tb, n)
	}
}

// Root skips the test unless it runs as root (CI does).
func Root(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "needs root")
	}
}

// FindBuilt returns the path of an oracle `make tools` built (a real
// kubeadm, manifestcheck) in build/tools at the module root, or in
// $KILN_KUBEADM_DIR when that is set.
func FindBuilt(name string) (string, error) {
	dir := os.Getenv("KILN_KUBEADM_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "build", "tools")
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Built is FindBuilt that skips the test, or fails it in CI, when the
// oracle has not been built.
func Built(tb testing.TB, name string) string {
	tb.Helper()
	bin, err := FindBuilt(name)
	if err != nil {
		Missing(tb, "%s not built (run `make tools`): %v", name, err)
	}
	return bin
}

func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// Shared returns the path of a directory of real vendor data kept beside
// the project, at ../shared/name from the module root (el7-real,
// el9-real-sample), which the repository must not hold; when it is
// missing it skips the test, or fails it in CI, as Missing does.
// KILN_SHARED_DIR names another place for ../shared; KILN_SHARED_OPTIONAL=1
// (set by .ci/run when there is no ../shared) skips in CI too.
func Shared(tb testing.TB, name string) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	base := os.Getenv("KILN_SHARED_DIR")
	if base == "" {
		base = filepath.Join(filepath.Dir(root), "shared")
	}
	dir := filepath.Join(base, name)
	if _, err := os.Stat(dir); err != nil {
		msg := fmt.Sprintf("real package data %s: %v (it is kept beside the clone, at ../shared; set KILN_SHARED_DIR to where it is)", dir, err)
		if InCI() && os.Getenv("KILN_SHARED_OPTIONAL") == "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return dir
}
