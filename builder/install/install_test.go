package install

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest/el7"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	reftest.Root(t)
	reftest.Tools(t, tools...)
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

// TestToolsTreeOfRealCentOS7 unpacks the tools tree (rpm and what it
// requires) from the real CentOS 7.9 packages in ../shared/el7-real. In
// NEVRA order it failed: glibc's /lib64 files made /lib64 a directory
// before filesystem could make it the symlink to usr/lib64.
func TestToolsTreeOfRealCentOS7(t *testing.T) {
	need(t)
	dir := filepath.Join(reftest.Shared(t, "el7-real"), "centos-7.9.2009-base")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.rpm"))
	var in []Package
	for _, p := range paths {
		in = append(in, Package{NEVRA: strings.TrimSuffix(filepath.Base(p), ".rpm"), Path: p})
	}
	pkgs, err := readHeaders(in)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := toolsClosure(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{}
	for i, p := range tools {
		at[p.name] = i
	}
	fs, ok := at["filesystem"]
	if !ok {
		t.Fatalf("filesystem is not in the tools closure %v", names(tools))
	}
	for _, p := range tools {
		for _, f := range p.files {
			for _, l := range []string{"/lib64/", "/lib/", "/bin/", "/sbin/"} {
				if strings.HasPrefix(f, l) && at[p.name] < fs {
					t.Errorf("%s (%s) comes before filesystem, which makes %s a symlink", p.nevra, f, l)
				}
			}
		}
	}
	if at["setup"] > fs || at["glibc"] < fs {
		t.Errorf("order %v: want setup, then filesystem, which requires it, then glibc", names(tools))
	}
	root := t.TempDir()
	for _, p := range tools {
		if err := unpack(context.Background(), p, root); err != nil {
			t.Fatalf("unpacking %s in order %v: %v", p.nevra, names(tools), err)
		}
	}
	for l, want := range map[string]string{"lib64": "usr/lib64", "bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib"} {
		if got, err := os.Readlink(filepath.Join(root, l)); err != nil || got != want {
			t.Errorf("/%s -> %q, %v; want %s", l, got, err, want)
		}
	}
	out, err := exec.Command("chroot", root, "rpm", "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RPM version 4.11.3") {
		t.Errorf("the tools tree's rpm --version: %v\n%s", err, out)
	}

	// The set has the problem: in NEVRA order the unpack fails.
	byNEVRA := append([]*pkgInfo(nil), tools...)
	sort.Slice(byNEVRA, func(i, j int) bool { return byNEVRA[i].nevra < byNEVRA[j].nevra })
	naive := t.TempDir()
	var naiveErr error
	for _, p := range byNEVRA {
		if naiveErr = unpack(context.Background(), p, naive); naiveErr != nil {
			break
		}
	}
	if naiveErr == nil {
		t.Error("unpacking in NEVRA order worked: the test no longer shows the ordering problem")
	}
}

func names(pkgs []*pkgInfo) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.name)
	}
	return out
}

func TestUnpackOrder(t *testing.T) {
	pkgs := []*pkgInfo{
		{nevra: "aaa-lib-1", name: "aaa-lib", files: []string{"/lib64/libaaa.so.1"}, ordering: []orderReq{{"libc.so.6", false}}},
		{nevra: "bash-1", name: "bash", files: []string{"/usr/bin/bash"}, provides: []string{"/bin/sh"}, ordering: []orderReq{{"libc.so.6", true}}},
		// filesystem's %posttrans needs /bin/sh: no ordering edge.
		{nevra: "filesystem-1", name: "filesystem", files: []string{"/lib64", "/usr/lib64"}, symlinks: []string{"/lib64"}, ordering: []orderReq{{"setup", true}}},
		{nevra: "glibc-1", name: "glibc", files: []string{"/lib64/libc.so.6"}, provides: []string{"libc.so.6"}, ordering: []orderReq{{"basesystem", true}, {"/bin/sh", false}}},
		{nevra: "basesystem-1", name: "basesystem", ordering: []orderReq{{"filesystem", true}, {"setup", true}}},
		{nevra: "setup-1", name: "setup", files: []string{"/etc/passwd"}},
	}
	want := "setup filesystem basesystem glibc aaa-lib bash"
	// glibc and bash require each other: glibc's plain requirement is
	// dropped, not bash's %post one; aaa-lib, outside the loop, waits for
	// it although it sorts first.
	for i := range 5 {
		in := append([]*pkgInfo(nil), pkgs...)
		rand.New(rand.NewPCG(uint64(i), 0)).Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
		if got := strings.Join(names(unpackOrder(in)), " "); got != want {
			t.Errorf("unpackOrder = %s, want %s", got, want)
		}
	}
}

// el7Install runs a real CentOS 7.9 rpm 4.11 transaction: rpm's closure
// from ../shared/el7-real (glibc-common a labelled stand-in), and extra.
func el7Install(t *testing.T, o Options, extra ...Package) (Report, string) {
	t.Helper()
	need(t)
	pkgs := extra
	for _, p := range el7.Closure(t, t.TempDir(), "rpm") {
		pkgs = append(pkgs, Package{NEVRA: p.NEVRA, Path: p.Path})
	}
	work := t.TempDir()
	o.Root, o.Tools, o.Packages = filepath.Join(work, "root"), filepath.Join(work, "tools"), pkgs
	rep, err := Install(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep, o.Root
}

func TestInstallRealCentOS7(t *testing.T) {
	rep, root := el7Install(t, Options{})
	if len(rep.Installed) < 60 {
		t.Errorf("installed %d packages: %v", len(rep.Installed), rep.Installed)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/rpm/Packages")); err != nil {
		t.Errorf("no Berkeley DB rpmdb: %v", err)
	}
}

// brokenScripts is a package whose %post fails after saying something on
// stdout and stderr, and whose Lua %posttrans raises an error: rpm only
// warns about both and installs the package.
var brokenScripts = &rpmtest.Package{Name: "kiln-test-broken", Version: "1.0", Release: "1", Arch: "noarch",
	Summary:   "kiln test package whose scriptlets fail",
	Requires:  rpmtest.Deps("bash"),
	Files:     []rpmtest.File{{Path: "/usr/share/kiln-test-broken", Content: "x\n"}},
	Post:      rpmtest.Script{Body: "echo 'broken post on stdout'\necho 'broken post on stderr' >&2\nexit 3\n"},
	PostTrans: rpmtest.Script{Interpreter: rpmtest.Lua, Body: `error("broken lua posttrans")`},
}

func TestInstallReportsFailedScriptlets(t *testing.T) {
	need(t, "ldd", "busybox", "grub-mkimage")
	broken, err := brokenScripts.WriteFile(t.TempDir(), rpmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	extra := Package{NEVRA: brokenScripts.NEVRA(), Path: broken}
	host := func(t *testing.T, o Options) Report {
		distro, err := rpmtest.HostDistro()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		pkgs := []Package{extra}
		for _, p := range distro {
			path, err := p.WriteFile(dir, rpmtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			pkgs = append(pkgs, Package{NEVRA: p.NEVRA(), Path: path})
		}
		work := t.TempDir()
		o.Root, o.Tools, o.Packages = filepath.Join(work, "root"), filepath.Join(work, "tools"), pkgs
		rep, err := Install(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	el7 := func(t *testing.T, o Options) Report {
		rep, _ := el7Install(t, o, extra)
		return rep
	}
	for _, tc := range []struct {
		name    string
		install func(*testing.T, Options) Report
	}{{"rpm 4.18 (host)", host}, {"rpm 4.11 (CentOS 7.9)", el7}} {
		t.Run(tc.name, func(t *testing.T) {
			var log strings.Builder
			rep := tc.install(t, Options{Log: &log})
			for _, w := range []string{"broken post on stdout", "broken post on stderr"} {
				if !strings.Contains(log.String(), w) {
					t.Errorf("the log lacks the scriptlet's %q:\n%s", w, log.String())
				}
			}
			want := []ScriptletFailure{
				{"%post", "kiln-test-broken-1.0-1.noarch", "exit status 3"},
				{"%posttrans", "kiln-test-broken-1.0-1.noarch", "broken lua posttrans"},
			}
			if !slices.Equal(rep.ScriptletFailures, want) {
				t.Errorf("ScriptletFailures = %+v, want %+v", rep.ScriptletFailures, want)
			}
		})
	}
	t.Run("strict", func(t *testing.T) {
		distro, err := rpmtest.HostDistro()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		pkgs := []Package{extra}
		for _, p := range distro {
			path, err := p.WriteFile(dir, rpmtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			pkgs = append(pkgs, Package{NEVRA: p.NEVRA(), Path: path})
		}
		work := t.TempDir()
		_, err = Install(context.Background(), Options{Root: filepath.Join(work, "root"), Tools: filepath.Join(work, "tools"), Packages: pkgs, StrictScriptlets: true})
		var se *ScriptletError
		if !errors.As(err, &se) || len(se.Failures) != 2 || !strings.Contains(err.Error(), "%post scriptlet of kiln-test-broken-1.0-1.noarch failed: exit status 3") {
			t.Errorf("Install(StrictScriptlets) = %v, want a ScriptletError naming both", err)
		}
	})
}

func TestScriptletFailures(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []ScriptletFailure
	}{
		{"warning: %post(kiln-test-broken-1.0-1.noarch) scriptlet failed, exit status 3", []ScriptletFailure{{"%post", "kiln-test-broken-1.0-1.noarch", "exit status 3"}}},
		{"error: %prein(foo-2:1.0-1.el7.x86_64) scriptlet failed, exit status 1", []ScriptletFailure{{"%prein", "foo-2:1.0-1.el7.x86_64", "exit status 1"}}},
		{"warning: %triggerin(bar-0:1-1.x86_64) scriptlet failed, signal 9", []ScriptletFailure{{"%triggerin", "bar-1-1.x86_64", "signal 9"}}},
		{`error: lua script failed: [string "%posttrans(kiln-test-broken-1.0-1.noarch)"]:1: broken lua posttrans`, []ScriptletFailure{{"%posttrans", "kiln-test-broken-1.0-1.noarch", "broken lua posttrans"}}},
		{"Updating / installing...  foo-1.0warning: %post(foo-1.0-1.noarch) scriptlet failed, exit status 2", []ScriptletFailure{{"%post", "foo-1.0-1.noarch", "exit status 2"}}}, // stdout's chunk ended mid-line
		{"echo warning: %post scriptlet failed", nil},
		{"kiln-test-broken-1.0-1.noarch", nil},
	} {
		// The same failure twice is one.
		if got := scriptletFailures(tc.line + "\n" + tc.line + "\n"); !slices.Equal(got, tc.want) {
			t.Errorf("scriptletFailures(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}
