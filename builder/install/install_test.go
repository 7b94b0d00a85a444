package install

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// hostFile packs a host file into a fixture at path.
func hostFile(t *testing.T, host, path string, mode fs.FileMode) rpmtest.File {
	t.Helper()
	b, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	return rpmtest.File{Path: path, Mode: mode, Content: string(b)}
}

// miniDistro is the smallest set of packages that installs with a real
// rpm transaction: a merged-/usr filesystem, the build host's rpm with
// its libraries (standing in for the target's rpm), busybox as /bin/sh,
// and a package whose shell and Lua scriptlets leave traces.
func miniDistro(t *testing.T) []*rpmtest.Package {
	t.Helper()
	dirs := []string{"/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/etc", "/etc/rpm",
		"/var", "/var/lib", "/var/lib/rpm", "/tmp", "/dev", "/proc", "/sys", "/run", "/root", "/usr/lib/rpm"}
	fsys := &rpmtest.Package{Name: "filesystem", Version: "3.16", Release: "2", Arch: "x86_64"}
	for _, d := range dirs {
		fsys.Files = append(fsys.Files, rpmtest.File{Path: d, Mode: fs.ModeDir | 0o755})
	}
	for l, target := range map[string]string{"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64"} {
		fsys.Files = append(fsys.Files, rpmtest.File{Path: l, Mode: fs.ModeSymlink | 0o777, Target: target})
	}

	rpmPkg := &rpmtest.Package{Name: "rpm", Version: "4.18.0", Release: "1", Arch: "x86_64",
		Requires: rpmtest.Deps("filesystem"),
		Files: []rpmtest.File{
			hostFile(t, "/usr/bin/rpm", "/usr/bin/rpm", 0o755),
			{Path: "/etc/rpm/macros.dbpath", Content: "%_dbpath /var/lib/rpm\n"},
			hostFile(t, "/usr/lib/rpm/rpmrc", "/usr/lib/rpm/rpmrc", 0o644),
			hostFile(t, "/usr/lib/rpm/macros", "/usr/lib/rpm/macros", 0o644),
			{Path: "/usr/lib/rpm/platform", Mode: fs.ModeDir | 0o755},
			{Path: "/usr/lib/rpm/platform/x86_64-linux", Mode: fs.ModeDir | 0o755},
			hostFile(t, "/usr/lib/rpm/platform/x86_64-linux/macros", "/usr/lib/rpm/platform/x86_64-linux/macros", 0o644),
		}}
	out, err := exec.Command("ldd", "/usr/bin/rpm").Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(\S+)(?: => (\S+))? \(0x`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		host := m[2]
		if host == "" {
			host = m[1]
		}
		if !strings.HasPrefix(host, "/") {
			continue // the vDSO
		}
		dst := "/usr/lib/x86_64-linux-gnu/" + filepath.Base(host)
		if strings.Contains(host, "ld-linux") {
			dst = "/usr/lib64/" + filepath.Base(host)
		}
		real, _ := filepath.EvalSymlinks(host)
		rpmPkg.Files = append(rpmPkg.Files, hostFile(t, real, dst, 0o755))
	}

	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	shell := &rpmtest.Package{Name: "bash", Version: "5.2", Release: "1", Arch: "x86_64", Requires: rpmtest.Deps("filesystem"),
		Provides: rpmtest.Deps("/bin/sh"),
		Files: []rpmtest.File{
			hostFile(t, bb, "/usr/bin/busybox", 0o755),
			{Path: "/usr/bin/sh", Mode: fs.ModeSymlink | 0o777, Target: "busybox"},
			{Path: "/usr/bin/mkdir", Mode: fs.ModeSymlink | 0o777, Target: "busybox"},
		}}

	scripts := &rpmtest.Package{Name: "kiln-test-scripts", Version: "1.0", Release: "3", Arch: "noarch", Epoch: 2,
		Requires: rpmtest.Deps("bash", "filesystem"),
		Files: []rpmtest.File{
			{Path: "/usr/bin/pinger", Mode: 0o755, Content: "#!/bin/sh\n", Caps: "cap_net_raw=ep"},
			{Path: "/usr/bin/gzip", Mode: 0o755, Content: "gzip"},
			{Path: "/usr/bin/gunzip", LinkTo: "/usr/bin/gzip"},
		},
		Post:      rpmtest.Script{Body: "mkdir -p /var/lib/kiln-test && echo \"shell post ran with $1\" > /var/lib/kiln-test/post\n"},
		PostTrans: rpmtest.Script{Interpreter: rpmtest.Lua, Body: `local f = io.open("/var/lib/kiln-test/lua", "w"); f:write("lua posttrans ran\n"); f:close()`},
	}
	return []*rpmtest.Package{fsys, rpmPkg, shell, scripts}
}

func TestInstallRunsTheTargetsRPMTransaction(t *testing.T) {
	need(t, "ldd", "busybox", "getcap")
	pkgDir := t.TempDir()
	var pkgs []Package
	for _, p := range miniDistro(t) {
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
	if got := strings.Join(rep.Tools, " "); got != "bash-5.2-1.x86_64 filesystem-3.16-2.x86_64 rpm-4.18.0-1.x86_64" && got != "filesystem-3.16-2.x86_64 rpm-4.18.0-1.x86_64" {
		t.Errorf("tools tree = %s", got)
	}
	want := "bash-5.2-1.x86_64 filesystem-3.16-2.x86_64 kiln-test-scripts-2:1.0-3.noarch rpm-4.18.0-1.x86_64"
	if got := strings.Join(rep.Installed, " "); got != want {
		t.Errorf("rpmdb lists %s, want %s", got, want)
	}
	// rpm's own query of the image, run from the host: the oracle for
	// "the rpmdb lists exactly the locked set".
	out, err := exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-qa").CombinedOutput()
	if err != nil || len(strings.Fields(string(out))) != 4 {
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
