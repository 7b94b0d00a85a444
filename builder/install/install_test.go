package install

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

func TestInstallRunsTheTargetsRPMTransaction(t *testing.T) {
	need(t, "ldd", "busybox", "getcap", "grub-mkimage")
	distro, err := rpmtest.HostDistro()
	if err != nil {
		t.Fatal(err)
	}
	pkgDir := t.TempDir()
	var pkgs []Package
	for _, p := range distro {
		path, err := p.WriteFile(pkgDir, rpmtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, Package{NEVRA: p.NEVRA(), Path: path})
	}
	work := t.TempDir()
	root := filepath.Join(work, "root")
	rep, err := Install(context.Background(), Options{Root: root, Tools: filepath.Join(work, "tools"), Packages: pkgs})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.Tools, " "); got != "filesystem-3.16-2.x86_64 rpm-4.18.0-1.x86_64" {
		t.Errorf("tools tree = %s, want rpm's closure only", got)
	}
	want := "bash-5.2-1.x86_64 filesystem-3.16-2.x86_64 grub2-tools-2.06-1.x86_64 kernel-6.1.0-kiln.test.x86_64 kiln-test-scripts-2:1.0-3.noarch rpm-4.18.0-1.x86_64 systemd-252-1.x86_64"
	if got := strings.Join(rep.Installed, " "); got != want {
		t.Errorf("rpmdb lists %s, want %s", got, want)
	}
	// rpm's own query of the image, run from the host: the oracle for
	// "the rpmdb lists exactly the locked set".
	out, err := exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-qa").CombinedOutput()
	if err != nil || len(strings.Fields(string(out))) != 7 {
		t.Errorf("rpm --root -qa: %v\n%s", err, out)
	}
	for p, want := range map[string]string{
		"var/lib/kiln-test/post": "shell post ran with 1\n",
		"var/lib/kiln-test/lua":  "lua posttrans ran\n",
	} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	capOut, _ := exec.Command("getcap", filepath.Join(root, "usr/bin/pinger")).CombinedOutput()
	if !strings.Contains(string(capOut), "cap_net_raw=ep") {
		t.Errorf("getcap: %s", capOut)
	}
	a, _ := os.Stat(filepath.Join(root, "usr/bin/gzip"))
	b, _ := os.Stat(filepath.Join(root, "usr/bin/gunzip"))
	if !os.SameFile(a, b) {
		t.Error("gzip and gunzip are not hard linked")
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/kernel/install.d/50-dracut.install")); l != "/dev/null" {
		t.Errorf("dracut's kernel-install plugin not masked: %q", l)
	}
	if err := UnmaskKernelInstall(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/kernel/install.d/50-dracut.install")); !os.IsNotExist(err) {
		t.Error("mask still there after UnmaskKernelInstall")
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), work) {
		t.Error("mounts leaked")
	}
}

func TestInstallNeedsRPMInTheSet(t *testing.T) {
	need(t)
	p := &rpmtest.Package{Name: "lonely", Version: "1"}
	path, err := p.WriteFile(t.TempDir(), rpmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	_, err = Install(context.Background(), Options{Root: filepath.Join(work, "root"), Tools: filepath.Join(work, "tools"), Packages: []Package{{NEVRA: p.NEVRA(), Path: path}}})
	if err == nil || !strings.Contains(err.Error(), `add rpm to the profile's packages`) {
		t.Errorf("Install() = %v", err)
	}
}
