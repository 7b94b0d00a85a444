package payload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"golang.org/x/sys/unix"
)

func fixture(comp string) *rpmtest.Package {
	return &rpmtest.Package{
		Name: "tools", Version: "1.0", Arch: "x86_64", Compressor: comp,
		Files: []rpmtest.File{
			{Path: "/usr", Mode: fs.ModeDir | 0o755},
			{Path: "/usr/bin", Mode: fs.ModeDir | 0o755},
			{Path: "/usr/bin/ping", Mode: 0o755, Content: "#!/bin/sh\necho ping\n", Caps: "cap_net_raw=ep"},
			{Path: "/usr/bin/su", Mode: 0o4755, Content: "setuid"},
			{Path: "/usr/lib", Mode: fs.ModeDir | 0o755},
			{Path: "/usr/lib/libx.so.1", Mode: 0o755, Content: strings.Repeat("elf", 3000)},
			{Path: "/usr/lib/libx.so", Mode: fs.ModeSymlink | 0o777, Target: "libx.so.1"},
			{Path: "/lib", Mode: fs.ModeSymlink | 0o777, Target: "usr/lib"},
			{Path: "/usr/bin/gzip", Mode: 0o755, Content: "gzip binary"},
			{Path: "/usr/bin/gunzip", LinkTo: "/usr/bin/gzip"},
			{Path: "/etc", Mode: fs.ModeDir | 0o755},
			{Path: "/etc/tools.conf", Mode: 0o640, Content: "a=1\n", Group: "daemon", Flags: rpmtest.Config},
			{Path: "/etc/ghost.log", Mode: 0o600, Flags: rpmtest.Ghost},
		},
	}
}

func extract(t *testing.T, rpm []byte, dir string) Stats {
	return extractWith(t, rpm, dir, Options{})
}

func extractWith(t *testing.T, rpm []byte, dir string, opts Options) Stats {
	t.Helper()
	r := bytes.NewReader(rpm)
	pkg, err := header.Read(r)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Extract(context.Background(), r, pkg.Header, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// listing describes a tree the way this test compares it: type, mode,
// owner, size, link target, capability xattr and hard link count.
func listing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel := strings.TrimPrefix(p, root)
		if strings.HasPrefix(rel, "/var/lib/rpm") || strings.HasPrefix(rel, "/usr/lib/sysimage") || strings.HasPrefix(rel, "/var") {
			return nil
		}
		info, _ := os.Lstat(p)
		st := info.Sys().(*syscall.Stat_t)
		line := rel + " " + info.Mode().String()
		if info.Mode().IsRegular() {
			line += " size=" + itoa(info.Size()) + " nlink=" + itoa(int64(st.Nlink))
			if b := make([]byte, 64); true {
				if n, err := unix.Lgetxattr(p, "security.capability", b); err == nil {
					line += " cap=" + hex.EncodeToString(b[:n])
				}
			}
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		line += " gid=" + itoa(int64(st.Gid))
		if !info.IsDir() {
			// rpm leaves directory times at install time; kiln pins them
			// (checked separately).
			line += " mtime=" + itoa(info.ModTime().Unix())
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The oracle is rpm itself: the same package installed by rpm --root
// (no scripts) must give the same tree.
func TestExtractMatchesRPM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (owners, capabilities, device nodes)")
	}
	reftest.Tool(t, "rpm")
	for _, comp := range []string{"gzip", "xz", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			rpm := fixture(comp).MustBuild(rpmtest.Options{})
			file := filepath.Join(t.TempDir(), "tools.rpm")
			os.WriteFile(file, rpm, 0o644)
			ours := t.TempDir()
			st := extract(t, rpm, ours)
			if st.Files != 5 || st.Hardlinks != 1 || st.Symlinks != 2 || st.Caps != 1 {
				t.Errorf("stats = %+v", st)
			}
			theirs := t.TempDir()
			out, err := exec.Command("rpm", "--root", theirs, "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--nosignature", "--noscripts", "--ignorearch", "--ignoreos", file).CombinedOutput()
			if err != nil {
				t.Fatalf("rpm -i: %v\n%s", err, out)
			}
			if a, b := listing(t, ours), listing(t, theirs); a != b {
				t.Errorf("trees differ\nkiln:\n%s\n\nrpm:\n%s", a, b)
			}
			if _, err := os.Stat(filepath.Join(ours, "etc/ghost.log")); !os.IsNotExist(err) {
				t.Error("ghost file was created")
			}
			if st, _ := os.Stat(filepath.Join(ours, "usr/bin")); st.ModTime().Unix() != rpmtest.DefaultBuildTime.Unix() {
				t.Errorf("directory mtime %v, want the header's %v", st.ModTime(), rpmtest.DefaultBuildTime)
			}
			if b, _ := os.ReadFile(filepath.Join(ours, "lib/libx.so")); len(b) != 9000 {
				t.Errorf("lib/libx.so through the /lib symlink: %d bytes", len(b))
			}
		})
	}
}

func TestOwnerMapping(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	extractWith(t, fixture("gzip").MustBuild(rpmtest.Options{}), dir, Options{Owner: func(u, g string) (int, int) {
		if g == "daemon" {
			return 0, 2
		}
		return 0, 0
	}})
	st, _ := os.Stat(filepath.Join(dir, "etc/tools.conf"))
	if gid := st.Sys().(*syscall.Stat_t).Gid; gid != 2 {
		t.Errorf("etc/tools.conf gid = %d, want 2", gid)
	}
}

func TestExtractStaysInsideTheTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	outside := t.TempDir()
	p := &rpmtest.Package{Name: "evil", Version: "1", Files: []rpmtest.File{
		{Path: "/escape", Mode: fs.ModeSymlink | 0o777, Target: outside},
		{Path: "/up", Mode: fs.ModeSymlink | 0o777, Target: "../../../../../../.."},
		{Path: "/escape/planted", Content: "x"},
		{Path: "/up/tmp/planted2", Content: "y"},
	}}
	rpm, err := p.Build(rpmtest.Options{})
	if err != nil {
		t.Fatalf("building the fixture: %v", err)
	}
	dir := t.TempDir()
	extract(t, rpm, dir)
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Fatal("a file was written through an absolute symlink outside the tree")
	}
	if _, err := os.Stat("/tmp/planted2"); err == nil {
		os.Remove("/tmp/planted2")
		t.Fatal("a file was written through a relative symlink outside the tree")
	}
	if _, err := os.Stat(filepath.Join(dir, outside, "planted")); err != nil {
		t.Errorf("file through the absolute symlink should land inside the tree: %v", err)
	}
}

func TestExtractRejectsDamagedPayloads(t *testing.T) {
	rpm := fixture("gzip").MustBuild(rpmtest.Options{})
	r := bytes.NewReader(rpm)
	pkg, err := header.Read(r)
	if err != nil {
		t.Fatal(err)
	}
	payload := rpm[pkg.PayloadStart:]
	for name, data := range map[string][]byte{
		"truncated": payload[:len(payload)/2],
		"garbage":   bytes.Repeat([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 'x'}, 10),
		"empty":     nil,
	} {
		if _, err := Extract(context.Background(), bytes.NewReader(data), pkg.Header, t.TempDir(), Options{}); err == nil {
			t.Errorf("%s payload: no error", name)
		}
	}
}

func TestCapXattr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cap_net_raw=ep", "0100000200200000000000000000000000000000"},
		{"cap_net_admin,cap_net_raw+ep", "0100000200300000000000000000000000000000"},
		{"cap_setuid=ei", "0100000200000000800000000000000000000000"},
		{"cap_bpf=p", "0000000200000000000000008000000000000000"},
		{"cap_chown=", ""},
	} {
		got, err := CapXattr(tc.in)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("CapXattr(%q) = %x, %v, want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := CapXattr("cap_flying=ep"); err == nil {
		t.Error("unknown capability accepted")
	}
}

// TestExtractsRealRHEL9Package unpacks a genuine RHEL 9 package (zstd
// payload) and checks every file against the digests rpm lists for it.
func TestExtractsRealRHEL9Package(t *testing.T) {
	reftest.Root(t) // files are owned by root
	rpm := reftest.Tool(t, "rpm")
	path := filepath.Join(reftest.Shared(t, "el9-real-sample"), "apr-1.7.0-12.el9_3.x86_64.rpm")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkg, err := header.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Extract(context.Background(), f, pkg.Header, dir, Options{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	out, err := exec.Command(rpm, "-qp", "--nosignature", "--qf", `[%{FILENAMES}|%{FILEDIGESTS}|%{FILEMODES:perms}\n]`, path).Output()
	if err != nil {
		t.Fatalf("rpm -qp: %v", err)
	}
	files := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		name, digest, perms := f[0], f[1], f[2]
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if perms[0] == '-' {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != digest {
				t.Errorf("%s: sha256 %x, %v; rpm says %s", name, sum, err, digest)
			}
			files++
		}
		if got := fi.Mode().Perm().String()[1:]; got != perms[1:] {
			t.Errorf("%s: mode %s, rpm says %s", name, got, perms)
		}
	}
	if files == 0 {
		t.Error("rpm lists no regular files")
	}
}
