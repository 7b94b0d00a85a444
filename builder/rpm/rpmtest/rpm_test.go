package rpmtest_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

var sample = rpmtest.Package{
	Name: "sample", Version: "2.1", Release: "3", Arch: "x86_64",
	Files: []rpmtest.File{
		{Path: "/usr/bin/sample", Mode: 0o755, Content: "#!/bin/sh\necho sample\n"},
		{Path: "/usr/bin/sample-link", LinkTo: "/usr/bin/sample"},
		{Path: "/usr/bin/sample-sym", Mode: os.ModeSymlink, Target: "sample"},
		{Path: "/usr/sbin/pinger", Mode: 0o755, Content: "ping", Caps: "cap_net_raw=ep"},
		{Path: "/etc/sample.conf", Content: "a=1\n", Flags: rpmtest.Config | rpmtest.NoReplace, Owner: "nobody"},
		{Path: "/var/lib/sample", Mode: 0o700 | os.ModeDir},
		{Path: "/var/log/sample.log", Flags: rpmtest.Ghost},
	},
	Provides: rpmtest.Deps("sample-api = 2"),
	Requires: rpmtest.Deps("glibc >= 2.17"),
	Post:     rpmtest.Script{Interpreter: rpmtest.Lua, Body: `local f = io.open("/lua-post-ran", "w") f:write("yes") f:close()`},
}

// checksig imports key into a throwaway rpmdb and runs rpmkeys -Kv on b.
func checksig(t *testing.T, root string, b []byte) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "p.rpm")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(reftest.Tool(t, "rpmkeys"), "--root", root, "-Kv", f).CombinedOutput()
	return strings.ReplaceAll(string(out), f+":\n", ""), err
}

func importKey(t *testing.T, k *rpmtest.Key) string {
	t.Helper()
	root := t.TempDir()
	asc := filepath.Join(root, "key.asc")
	if err := k.WritePublicKey(asc); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(reftest.Tool(t, "rpmkeys"), "--root", root, "--import", asc).CombinedOutput(); err != nil {
		t.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}
	return root
}

func TestSignaturesAgainstRPMKeys(t *testing.T) {
	key, other := rpmtest.TestKey(t, "alpha"), rpmtest.TestKey(t, "beta")
	root := importKey(t, key)
	id := fmt.Sprintf("%08x", uint32(key.KeyID()))
	ok := func(lines ...string) []string { return lines }
	tests := []struct {
		name    string
		opts    rpmtest.Options
		want    []string // lines rpmkeys -Kv must print
		wantBad bool     // rpmkeys must fail
	}{
		{"unsigned", rpmtest.Options{}, ok("Header SHA256 digest: OK", "Header SHA1 digest: OK", "Payload SHA256 digest: OK", "MD5 digest: OK"), false},
		{"v4", rpmtest.Options{Key: key}, ok("Header V4 RSA/SHA256 Signature, key ID "+id+": OK", "Header SHA256 digest: OK", "Payload SHA256 digest: OK"), false},
		{"v4 + payload signature", rpmtest.Options{Key: key, PayloadSignature: true}, ok("Header V4 RSA/SHA256 Signature, key ID "+id+": OK", "V4 RSA/SHA256 Signature, key ID "+id+": OK"), false},
		{"v3", rpmtest.Options{Key: key, V3: true}, ok("Header V3 RSA/SHA256 Signature, key ID "+id+": OK", "Payload SHA256 digest: OK"), false},
		{"v3 legacy", rpmtest.Options{Key: key, V3: true, Legacy: true}, ok("Header V3 RSA/SHA256 Signature, key ID "+id+": OK", "Header SHA1 digest: OK", "V3 RSA/SHA256 Signature, key ID "+id+": OK", "MD5 digest: OK"), false},
		{"unknown key", rpmtest.Options{Key: other}, ok("NOKEY"), true},
		{"tampered signature", rpmtest.Options{Key: key, Tamper: rpmtest.TamperSignature}, ok("Header V4 RSA/SHA256 Signature, key ID " + id + ": BAD"), true},
		{"tampered v3 signature", rpmtest.Options{Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperSignature}, ok("Header V3 RSA/SHA256 Signature, key ID " + id + ": BAD"), true},
		{"tampered header", rpmtest.Options{Key: key, Tamper: rpmtest.TamperHeader}, ok("Header SHA256 digest: BAD"), true},
		{"tampered payload", rpmtest.Options{Key: key, Tamper: rpmtest.TamperPayload}, ok("Payload SHA256 digest: BAD"), true},
		{"wrong payload digest", rpmtest.Options{Key: key, Tamper: rpmtest.TamperPayloadDigest}, ok("Header V4 RSA/SHA256 Signature, key ID "+id+": OK", "Payload SHA256 digest: BAD"), true},
		{"wrong header digest", rpmtest.Options{Tamper: rpmtest.TamperHeaderDigest}, ok("Header SHA256 digest: BAD"), true},
		{"wrong MD5", rpmtest.Options{Legacy: true, Tamper: rpmtest.TamperMD5}, ok("MD5 digest: BAD"), true},
		{"truncated", rpmtest.Options{Tamper: rpmtest.TamperTruncate}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := sample.Build(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			out, err := checksig(t, root, b)
			if (err != nil) != tt.wantBad {
				t.Errorf("rpmkeys -Kv error = %v, want failure %v\n%s", err, tt.wantBad, out)
			}
			for _, line := range tt.want {
				if !strings.Contains(out, line) {
					t.Errorf("rpmkeys -Kv output lacks %q:\n%s", line, out)
				}
			}
			if !tt.wantBad && strings.Contains(out, "BAD") {
				t.Errorf("rpmkeys -Kv reports BAD:\n%s", out)
			}
		})
	}
}

// TestInstall installs the sample into an empty root with rpm and checks
// what landed: modes, owners, hard and symbolic links, capabilities, the
// Lua scriptlet.
func TestInstall(t *testing.T) {
	rpm := reftest.Tool(t, "rpm")
	if os.Geteuid() != 0 {
		t.Skip("installing into a root needs root (rpm chroots for scriptlets)")
	}
	dir := t.TempDir()
	file, err := sample.WriteFile(dir, rpmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	// No nobody user in the empty root: rpm falls back to root and warns.
	if out, err := exec.Command(rpm, "--root", root, "-i", "--nodeps", file).CombinedOutput(); err != nil {
		t.Fatalf("rpm -i: %v\n%s", err, out)
	}
	stat := func(p string) (os.FileInfo, *syscall.Stat_t) {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi, fi.Sys().(*syscall.Stat_t)
	}
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{"/usr/bin/sample", 0o755},
		{"/usr/bin/sample-link", 0o755},
		{"/usr/bin/sample-sym", os.ModeSymlink | 0o777},
		{"/etc/sample.conf", 0o644},
		{"/var/lib/sample", os.ModeDir | 0o700},
	}
	for _, tt := range tests {
		fi, _ := stat(tt.path)
		if fi.Mode() != tt.mode {
			t.Errorf("%s: mode %v, want %v", tt.path, fi.Mode(), tt.mode)
		}
		if !fi.ModTime().Equal(rpmtest.DefaultBuildTime) && fi.Mode()&os.ModeSymlink == 0 && !fi.IsDir() {
			t.Errorf("%s: mtime %v, want %v", tt.path, fi.ModTime(), rpmtest.DefaultBuildTime)
		}
	}
	_, a := stat("/usr/bin/sample")
	_, b := stat("/usr/bin/sample-link")
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link: inodes %d, %d, nlink %d; want one inode, 2 links", a.Ino, b.Ino, a.Nlink)
	}
	if target, _ := os.Readlink(filepath.Join(root, "/usr/bin/sample-sym")); target != "sample" {
		t.Errorf("symlink target %q", target)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "/usr/bin/sample-link")); string(got) != "#!/bin/sh\necho sample\n" {
		t.Errorf("hard link content %q", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "/var/log/sample.log")); err == nil {
		t.Error("ghost file was installed")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "lua-post-ran")); string(got) != "yes" {
		t.Errorf("Lua %%post did not run (marker %q)", got)
	}
	if getcap, err := exec.LookPath("getcap"); err == nil {
		out, _ := exec.Command(getcap, filepath.Join(root, "/usr/sbin/pinger")).Output()
		if !strings.Contains(string(out), "cap_net_raw=ep") {
			t.Errorf("getcap = %q, want cap_net_raw=ep", out)
		}
	}
	q, err := exec.Command(rpm, "--root", root, "-q", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEUSERNAME}\n]", "sample").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sample-2.1-3.x86_64\n", "/etc/sample.conf cn nobody\n", "/var/log/sample.log g root\n"} {
		if !strings.Contains(string(q), want) {
			t.Errorf("rpm -q output lacks %q:\n%s", want, q)
		}
	}
}

func TestScriptsAndDeps(t *testing.T) {
	rpm := reftest.Tool(t, "rpm")
	p := rpmtest.Package{
		Name: "deps", Version: "1", Epoch: 4,
		Provides:    rpmtest.Deps("virt = 1.0"),
		Requires:    append(rpmtest.Deps("a >= 1", "(b or c)"), repo.Dep{Name: "/bin/sh", Pre: true}),
		Conflicts:   rpmtest.Deps("d < 2"),
		Obsoletes:   rpmtest.Deps("e <= 3"),
		Recommends:  rpmtest.Deps("f"),
		Suggests:    rpmtest.Deps("g"),
		Supplements: rpmtest.Deps("h"),
		Enhances:    rpmtest.Deps("i > 0:1"),
		Pre:         rpmtest.Script{Body: "echo pre"},
		PreUn:       rpmtest.Script{Body: "print('preun')", Interpreter: rpmtest.Lua},
		PostUn:      rpmtest.Script{Body: "echo postun"},
		PreTrans:    rpmtest.Script{Body: "print(1)", Interpreter: rpmtest.Lua},
	}
	f, err := p.WriteFile(t.TempDir(), rpmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(f) != "deps-1-1.noarch.rpm" || p.NEVRA() != "deps-4:1-1.noarch" {
		t.Errorf("FileName %s, NEVRA %s", filepath.Base(f), p.NEVRA())
	}
	run := func(args ...string) string {
		out, err := exec.Command(rpm, append([]string{"-qp", "--nosignature"}, append(args, f)...)...).Output()
		if err != nil {
			t.Fatalf("rpm -qp %v: %v", args, err)
		}
		return string(out)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--provides"}, []string{"deps = 4:1-1", "virt = 1.0"}},
		{[]string{"--requires"}, []string{"a >= 1", "(b or c)", "/bin/sh", "rpmlib(BuiltinLuaScripts) <= 4.2.2-1", "rpmlib(CompressedFileNames) <= 3.0.4-1"}},
		{[]string{"--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]"}, []string{"/bin/sh pre", "a manual"}},
		{[]string{"--conflicts"}, []string{"d < 2"}},
		{[]string{"--obsoletes"}, []string{"e <= 3"}},
		{[]string{"--recommends"}, []string{"f"}},
		{[]string{"--suggests"}, []string{"g"}},
		{[]string{"--supplements"}, []string{"h"}},
		{[]string{"--enhances"}, []string{"i > 1"}}, // an explicit 0: epoch is written as none
		{[]string{"--scripts"}, []string{"preinstall scriptlet (using /bin/sh):\necho pre", "preuninstall scriptlet (using <lua>):\nprint('preun')", "postuninstall scriptlet (using /bin/sh):\necho postun", "pretrans scriptlet (using <lua>):\nprint(1)"}},
	}
	for _, tt := range tests {
		out := run(tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("rpm -qp %v lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}

func TestReproducible(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	for _, o := range []rpmtest.Options{{}, {Key: key}, {Key: key, V3: true, Legacy: true}} {
		a, b := sample.MustBuild(o), sample.MustBuild(o)
		if !bytes.Equal(a, b) {
			t.Errorf("options %+v: two builds differ", o)
		}
	}
}

func TestParseDep(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"bash", "bash", false},
		{"bash >= 4.2", "bash >= 4.2", false},
		{"docker-ce = 3:27.5.1-1.el9", "docker-ce = 3:27.5.1-1.el9", false},
		{"(a if b else c)", "(a if b else c)", false},
		{"x => 1", "", true},
		{"x >=", "", true},
		{"x >= 1:", "", true},
	}
	for _, tt := range tests {
		d, err := rpmtest.ParseDep(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDep(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && d.String() != tt.want {
			t.Errorf("ParseDep(%q) = %q, want %q", tt.in, d.String(), tt.want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		pkg  rpmtest.Package
		want string
	}{
		{"no version", rpmtest.Package{Name: "x"}, "name and version are required"},
		{"relative path", rpmtest.Package{Name: "x", Version: "1", Files: []rpmtest.File{{Path: "etc/x"}}}, "clean absolute path"},
		{"duplicate", rpmtest.Package{Name: "x", Version: "1", Files: []rpmtest.File{{Path: "/x"}, {Path: "/x"}}}, "listed twice"},
		{"dangling hard link", rpmtest.Package{Name: "x", Version: "1", Files: []rpmtest.File{{Path: "/x", LinkTo: "/y"}}}, "LinkTo"},
	}
	for _, tt := range tests {
		_, err := tt.pkg.Build(rpmtest.Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Build error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
