package ext4stamp

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

var features = map[string]string{
	"metadata_csum": "none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum",
	"uninit_bg":     "none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,flex_bg,sparse_super,large_file,huge_file,uninit_bg,dir_nlink,extra_isize",
}

// makeTree writes a small tree whose mtimes are fixed but whose ctimes are
// whenever it is called.
func makeTree(t *testing.T, future time.Time) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"etc/a", "etc/b", "usr/lib/c"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Unix(1500000000, 0)
	for _, p := range []string{"etc/a", "usr/lib/c", "usr/lib", "usr", "etc", "."} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(dir, "etc/b"), future, future); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkfs(t *testing.T, tree, feat string) string {
	t.Helper()
	mke2fs := reftest.Tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "fs.img")
	cmd := exec.Command(mke2fs, "-q", "-F", "-t", "ext4", "-O", feat, "-b", "4096", "-I", "256",
		"-U", "0b6cb0e6-8d54-4c61-9c63-3e1f4d3e5a10", "-E", "hash_seed=0b6cb0e6-8d54-4c61-9c63-3e1f4d3e5a10",
		"-d", tree, img, "32M")
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1600000000", "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	return img
}

func pin(t *testing.T, img string, at time.Time) int {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := Pin(context.Background(), f, 0, at)
	if err != nil {
		t.Fatalf("Pin: %v", err)
	}
	return n
}

func TestPinMakesImagesIndependentOfCtime(t *testing.T) {
	e2fsck := reftest.Tool(t, "e2fsck")
	debugfs := reftest.Tool(t, "debugfs")
	at := time.Unix(1700000000, 0)
	future := time.Unix(1900000000, 0)
	for name, feat := range features {
		t.Run(name, func(t *testing.T) {
			a := mkfs(t, makeTree(t, future), feat)
			time.Sleep(1100 * time.Millisecond) // the second tree gets later ctimes
			b := mkfs(t, makeTree(t, future), feat)
			ra, _ := os.ReadFile(a)
			rb, _ := os.ReadFile(b)
			if bytes.Equal(ra, rb) {
				t.Fatal("images of trees with different ctimes are already equal; the test proves nothing")
			}
			if n := pin(t, a, at); n < 6 {
				t.Errorf("Pin rewrote %d inodes, want at least 6 (root, lost+found, 2 dirs... )", n)
			}
			pin(t, b, at)
			ra, _ = os.ReadFile(a)
			rb, _ = os.ReadFile(b)
			if !bytes.Equal(ra, rb) {
				t.Error("pinned images differ")
			}
			if out, err := exec.Command(e2fsck, "-fn", a).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck -fn: %v\n%s", err, out)
			}
			for path, want := range map[string][]string{
				"/etc/a": {"ctime: 0x6553f100:00000000", "atime: 0x6553f100:00000000", "mtime: 0x59682f00:00000000", "crtime: 0x6553f100:00000000"},
				// mtime in the future is clamped.
				"/etc/b": {"mtime: 0x6553f100:00000000"},
				"/":      {"ctime: 0x6553f100:00000000"},
			} {
				out, err := exec.Command(debugfs, "-R", "stat "+path, a).CombinedOutput()
				if err != nil {
					t.Fatalf("debugfs: %v\n%s", err, out)
				}
				for _, w := range want {
					if !strings.Contains(string(out), w) {
						t.Errorf("debugfs stat %s lacks %q:\n%s", path, w, out)
					}
				}
			}
		})
	}
}

// The checksum Pin computes for an untouched inode must equal the one
// mke2fs wrote.
func TestChecksumMatchesMke2fs(t *testing.T) {
	img := mkfs(t, makeTree(t, time.Unix(1500000000, 0)), features["metadata_csum"])
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb, err := readSuperblock(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	gd := make([]byte, sb.descSize)
	if _, err := f.ReadAt(gd, (sb.firstDataBlock+1)*sb.blockSize); err != nil {
		t.Fatal(err)
	}
	table := int64(binary.LittleEndian.Uint32(gd[8:]))
	for _, ino := range []uint32{2, 11, 12} {
		inode := make([]byte, sb.inodeSize)
		if _, err := f.ReadAt(inode, table*sb.blockSize+int64(ino-1)*sb.inodeSize); err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), inode...)
		setChecksum(inode, sb.csumSeed, ino)
		if !bytes.Equal(inode, want) {
			t.Errorf("inode %d: checksum %#04x%04x, mke2fs wrote %#04x%04x", ino,
				binary.LittleEndian.Uint16(inode[iCsumHi:]), binary.LittleEndian.Uint16(inode[iCsumLo:]),
				binary.LittleEndian.Uint16(want[iCsumHi:]), binary.LittleEndian.Uint16(want[iCsumLo:]))
		}
	}
}

func TestEncodeTime(t *testing.T) {
	for _, sec := range []int64{0, 1700000000, 1<<31 - 1, 1 << 31, 1<<32 + 5, -5} {
		lo, epoch := encodeTime(sec)
		if got := decodeTime(lo, epoch); got != sec {
			t.Errorf("decodeTime(encodeTime(%d)) = %d", sec, got)
		}
	}
}

func TestPinRejectsNonExt4(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "zero"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := Pin(context.Background(), f, 0, time.Unix(0, 0)); err == nil || !strings.Contains(err.Error(), "bad magic") {
		t.Fatalf("Pin on zeros = %v, want bad magic", err)
	}
}
