package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

// capNetRaw is a VFS_CAP_REVISION_2 security.capability value granting
// cap_net_raw (bit 13) permitted and effective, as `setcap cap_net_raw+ep`
// writes it.
var capNetRaw = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// makeRootTree builds a small root filesystem tree with the things mke2fs -d
// must keep: owners, modes, a hardlink, a device node, xattrs, a symlink.
func makeRootTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "usr/bin", "dev", "tmp", "boot/grub2"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(dir, "etc/shadow-like"), []byte("secret\n"), 0o640))
	must(os.Chown(filepath.Join(dir, "etc/shadow-like"), 1000, 1001))
	must(os.WriteFile(filepath.Join(dir, "usr/bin/ping"), []byte("\x7fELF ping"), 0o755))
	must(syscall.Setxattr(filepath.Join(dir, "usr/bin/ping"), "security.capability", capNetRaw, 0))
	must(syscall.Setxattr(filepath.Join(dir, "usr/bin/ping"), "user.kiln", []byte("yes"), 0))
	must(os.WriteFile(filepath.Join(dir, "usr/bin/gzip"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Link(filepath.Join(dir, "usr/bin/gzip"), filepath.Join(dir, "usr/bin/gunzip")))
	must(syscall.Mknod(filepath.Join(dir, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3))
	must(os.Symlink("../usr/bin/ping", filepath.Join(dir, "etc/ping-link")))
	must(os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky))
	must(os.WriteFile(filepath.Join(dir, "usr/bin/passwd"), []byte("\x7fELF passwd"), 0o755))
	must(os.Chmod(filepath.Join(dir, "usr/bin/passwd"), 0o755|os.ModeSetuid))
	must(os.WriteFile(filepath.Join(dir, "boot/grub2/grub.cfg"), []byte("set timeout=1\n"), 0o600))
	// EL's filesystem package makes / 0555.
	must(os.Chmod(dir, 0o555))
	return dir
}

var testESP = fstest.MapFS{
	"EFI/BOOT/BOOTX64.EFI": {Data: []byte("MZ not really shim")},
	"EFI/BOOT/grub.cfg":    {Data: []byte("search --no-floppy --fs-uuid --set=dev ROOTUUID\n")},
}

func testLayout(t testing.TB, compat Compat) Layout {
	t.Helper()
	l, err := Plan(Options{Size: 256 << 20, ESPSize: 40 << 20, Seed: "sha256:0123456789abcdef", Time: time.Unix(1700000000, 0), Compat: compat})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// extract copies a partition out of the image into its own file.
func extract(t testing.TB, img string, p Partition) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "part.img")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := io.Copy(o, io.NewSectionReader(f, p.Offset(), p.Size())); err != nil {
		t.Fatal(err)
	}
	return out
}

func sha(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func wantLines(t testing.TB, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

func TestWriteCheckedByReferenceTools(t *testing.T) {
	reftest.Root(t)
	sgdisk := reftest.Tool(t, "sgdisk")
	fsck := reftest.Tool(t, "fsck.vfat")
	mtype := reftest.Tool(t, "mtype")
	e2fsck := reftest.Tool(t, "e2fsck")
	debugfs := reftest.Tool(t, "debugfs")
	for _, compat := range []Compat{CompatEL8, CompatEL7} {
		t.Run(string(compat), func(t *testing.T) {
			l := testLayout(t, compat)
			dir := t.TempDir()
			img := filepath.Join(dir, "disk.raw")
			if err := Write(context.Background(), img, l, Contents{RootTree: makeRootTree(t), ESP: testESP}); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d entries after Write, want only the image", len(entries))
			}

			var st syscall.Stat_t
			if err := syscall.Stat(img, &st); err != nil {
				t.Fatal(err)
			}
			if st.Size != l.Size {
				t.Errorf("image is %d bytes, want %d", st.Size, l.Size)
			}
			if used := st.Blocks * 512; used > 24<<20 {
				t.Errorf("image uses %d bytes on disk; it should be sparse", used)
			}

			out := run(t, sgdisk, "-v", img)
			wantLines(t, "sgdisk -v", out, "No problems found")
			for _, bad := range []string{"Warning", "Problem", "Caution", "mismatch"} {
				if strings.Contains(out, bad) {
					t.Errorf("sgdisk -v says %q:\n%s", bad, out)
				}
			}
			wantLines(t, "sgdisk -p", run(t, sgdisk, "-p", img), "Disk identifier (GUID): "+l.DiskGUID)
			for _, p := range l.Partitions {
				out := run(t, sgdisk, "-i", strconv.Itoa(p.Number), img)
				wantLines(t, "sgdisk -i", out,
					"Partition GUID code: "+p.Type,
					"Partition unique GUID: "+p.GUID,
					"Partition name: '"+p.Name+"'",
				)
				if !strings.Contains(out, "First sector: "+strconv.FormatUint(p.FirstLBA, 10)+" ") || !strings.Contains(out, "Last sector: "+strconv.FormatUint(p.LastLBA, 10)+" ") {
					t.Errorf("sgdisk -i %d: want sectors %d-%d:\n%s", p.Number, p.FirstLBA, p.LastLBA, out)
				}
			}

			espImg := extract(t, img, l.ESPPartition())
			out = run(t, fsck, "-n", espImg)
			if strings.Count(strings.TrimSpace(out), "\n") != 1 {
				t.Errorf("fsck.vfat -n printed more than its banner and summary:\n%s", out)
			}
			got := run(t, mtype, "-i", espImg, "::/EFI/BOOT/grub.cfg")
			if got != string(testESP["EFI/BOOT/grub.cfg"].Data) {
				t.Errorf("mtype grub.cfg = %q", got)
			}

			rootImg := extract(t, img, l.RootPartition())
			run(t, e2fsck, "-fn", rootImg)
			stat := func(path string) string { return run(t, debugfs, "-R", "stat "+path, rootImg) }
			wantLines(t, "debugfs stats", run(t, debugfs, "-R", "stats", rootImg),
				"Filesystem UUID:          "+l.Root.UUID,
				"Directory Hash Seed:      "+l.Root.HashSeed,
				"Filesystem volume name:   root",
				"Filesystem created:       Tue Nov 14 22:13:20 2023",
			)
			features := run(t, debugfs, "-R", "features", rootImg)
			if compat == CompatEL7 {
				wantLines(t, "debugfs features", features, "uninit_bg")
				if strings.Contains(features, "metadata_csum") || strings.Contains(features, "64bit") {
					t.Errorf("el7 filesystem has metadata_csum or 64bit: %s", features)
				}
			} else {
				wantLines(t, "debugfs features", features, "metadata_csum", "64bit")
			}
			if strings.Contains(features, "orphan_file") || strings.Contains(features, "metadata_csum_seed") {
				t.Errorf("features too new for EL8 GRUB/e2fsprogs: %s", features)
			}
			wantLines(t, "stat /usr/bin/gunzip", stat("/usr/bin/gunzip"), "Links: 2")
			wantLines(t, "stat /dev/null", stat("/dev/null"), "Type: character special", "Device major/minor number: 01:03")
			wantLines(t, "stat /usr/bin/ping", stat("/usr/bin/ping"),
				"security.capability (20) = 01 00 00 02 00 20 00 00", `user.kiln (3) = "yes"`, "Mode:  0755")
			wantLines(t, "stat /etc/shadow-like", stat("/etc/shadow-like"), "User:  1000   Group:  1001", "Mode:  0640",
				"ctime: 0x6553f100:00000000")
			wantLines(t, "stat /tmp", stat("/tmp"), "Mode:  01777")
			wantLines(t, "stat /", stat("/"), "Mode:  0555", "User:     0   Group:     0")
			wantLines(t, "stat /usr/bin/passwd", stat("/usr/bin/passwd"), "Mode:  04755")
			wantLines(t, "stat /etc/ping-link", stat("/etc/ping-link"), "Type: symlink", `Fast link dest: "../usr/bin/ping"`)
		})
	}
}

// The root directory keeps the tree root's mode and owner, which mke2fs -d
// does not copy (it left / at 0755 though EL's filesystem declares 0555).
func TestWriteCarriesTheRootDirectorysModeAndOwner(t *testing.T) {
	reftest.Root(t)
	e2fsck := reftest.Tool(t, "e2fsck")
	debugfs := reftest.Tool(t, "debugfs")
	for _, tc := range []struct {
		mode     os.FileMode
		uid, gid int
		want     []string
	}{
		{0o555, 0, 0, []string{"Mode:  0555", "User:     0   Group:     0"}},
		{0o700 | os.ModeSticky, 1234, 70000, []string{"Mode:  01700", "User:  1234   Group: 70000"}},
	} {
		tree := t.TempDir()
		if err := os.WriteFile(filepath.Join(tree, "file"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(tree, tc.uid, tc.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(tree, tc.mode); err != nil {
			t.Fatal(err)
		}
		l := testLayout(t, CompatEL7)
		img := filepath.Join(t.TempDir(), "disk.raw")
		if err := Write(context.Background(), img, l, Contents{RootTree: tree}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rootImg := extract(t, img, l.RootPartition())
		run(t, e2fsck, "-fn", rootImg)
		wantLines(t, fmt.Sprintf("stat / of a %v tree", tc.mode), run(t, debugfs, "-R", "stat /", rootImg), tc.want...)
	}
}

// Two writes from two copies of the tree, made at different times (so their
// ctimes differ), give the same bytes.
func TestWriteIsReproducible(t *testing.T) {
	reftest.Root(t)
	reftest.Tool(t, "mke2fs")
	l := testLayout(t, CompatEL8)
	var sums []string
	for i := range 2 {
		if i == 1 {
			time.Sleep(1100 * time.Millisecond)
		}
		img := filepath.Join(t.TempDir(), "disk.raw")
		if err := Write(context.Background(), img, l, Contents{RootTree: makeRootTree(t), ESP: testESP}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		sums = append(sums, sha(t, img))
	}
	if sums[0] != sums[1] {
		t.Fatalf("two writes differ: %s vs %s", sums[0], sums[1])
	}
}

func TestWriteLeavesNothingOnFailure(t *testing.T) {
	l := testLayout(t, CompatEL8)
	dir := t.TempDir()
	tree := t.TempDir()
	img := filepath.Join(dir, "disk.raw")
	for _, c := range []Contents{
		{RootTree: filepath.Join(tree, "missing")},
		{RootTree: tree, Mke2fs: "false"},
		{RootTree: tree, ESP: fstest.MapFS{"big": {Data: make([]byte, 41<<20)}}},
		{RootTree: tree, BIOS: &BIOSBoot{BootImg: make([]byte, 512), CoreImg: make([]byte, 1024)}},
	} {
		if err := Write(context.Background(), img, l, c); err == nil {
			t.Errorf("Write(%+v) succeeded", c)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("Write(%+v) failed but left %v", c, entries[0].Name())
		}
	}
}

func TestWriteWithBIOSBootSynthetic(t *testing.T) {
	reftest.Root(t)
	reftest.Tool(t, "mke2fs")
	boot, core := syntheticGrub()
	l := testLayout(t, CompatEL8)
	img := filepath.Join(t.TempDir(), "disk.raw")
	if err := Write(context.Background(), img, l, Contents{RootTree: makeRootTree(t), BIOS: &BIOSBoot{BootImg: boot, CoreImg: core}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[0x5C:0x64], []byte{0x00, 0x08, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("kernel sector field = % x, want LBA 2048", b[0x5C:0x64])
	}
	if b[0x1C2] != 0xEE || b[0x1FE] != 0x55 || b[0x1FF] != 0xAA {
		t.Errorf("protective MBR damaged: type %#x signature % x", b[0x1C2], b[0x1FE:])
	}
	coreAt := b[2048*512:]
	if !bytes.Equal(coreAt[500:512], []byte{0x01, 0x08, 0, 0, 0, 0, 0, 0, 3, 0, 0x20, 0x08}) {
		t.Errorf("blocklist = % x, want start 2049 len 3 segment 0x820", coreAt[500:512])
	}
	if !bytes.Equal(coreAt[512:len(core)], core[512:]) {
		t.Error("core.img body not written after its first sector")
	}
}
