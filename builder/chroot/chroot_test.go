package chroot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
)

// busyboxTree makes a tiny tree whose only program is a static busybox.
func busyboxTree(t *testing.T) string {
	t.Helper()
	bb := reftest.Tool(t, "busybox")
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "cat", "ls", "grep"} {
		os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	return root
}

func TestRunMountsAPIFilesystemsAndBindsWithoutLeaking(t *testing.T) {
	root := busyboxTree(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "pkg.rpm"), []byte("payload"), 0o644)
	var out, errb bytes.Buffer
	err := Run(context.Background(), Spec{Root: root, Binds: []Bind{{Host: host, Target: "/run/kiln/pkgs", ReadOnly: true}}},
		[]string{"sh", "-c", "cat /run/kiln/pkgs/pkg.rpm; echo; grep -c . /proc/self/mountinfo >/dev/null && echo proc-ok; ls /dev/null; echo x > /run/kiln/pkgs/new 2>/dev/null || echo read-only; echo $PATH"},
		&out, &errb)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"payload", "proc-ok", "/dev/null", "read-only", "/usr/sbin:/usr/bin:/sbin:/bin"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), root) {
		t.Errorf("mounts under %s leaked into the host namespace", root)
	}
}

func TestRunReportsFailureAndMissingCommand(t *testing.T) {
	root := busyboxTree(t)
	err := Run(context.Background(), Spec{Root: root}, []string{"sh", "-c", "exit 3"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Run(exit 3) = %v", err)
	}
	err = Run(context.Background(), Spec{Root: root}, []string{"rpm", "-q"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "rpm not found in") {
		t.Errorf("Run(rpm) = %v", err)
	}
}

// One buffer for stdout and stderr, as install hands rpm: exec.Cmd copies
// the two in separate goroutines, and unserialized writes lost stderr
// (rpm's "scriptlet failed" warnings) whole.
func TestRunKeepsStdoutAndStderrInOneBuffer(t *testing.T) {
	root := busyboxTree(t)
	var out bytes.Buffer
	script := "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
	if err := Run(context.Background(), Spec{Root: root}, []string{"sh", "-c", script}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"out0\n", "err0\n", "out199\n", "err199\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 400 {
		t.Errorf("output has %d lines, want 400", n)
	}
}
