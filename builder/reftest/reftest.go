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
