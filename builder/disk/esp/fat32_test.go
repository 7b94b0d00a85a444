package esp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

func testTree() fstest.MapFS {
	big := make([]byte, 300*1024+17)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	tree := fstest.MapFS{
		"EFI/BOOT/BOOTX64.EFI":          {Data: []byte("MZ fake shim")},
		"EFI/BOOT/grub.cfg":             {Data: []byte("search --fs-uuid --set=root 1234\n")},
		"EFI/BOOT/grubx64.efi":          {Data: big},
		"EFI/centos/Long File Name.txt": {Data: []byte("long")},
		"EFI/centos/.hidden":            {Data: []byte("dot")},
		"EFI/centos/empty":              {Data: nil},
		"EFI/centos/a.b.c":              {Data: []byte("dots")},
		"EFI/centos/sub/deeper/x.TXT":   {Data: []byte("deep")},
	}
	// Enough long names to spread a directory over several clusters.
	for i := range 40 {
		tree[fmt.Sprintf("EFI/many/a rather long file name number %02d.conf", i)] = &fstest.MapFile{Data: []byte{byte(i)}}
	}
	return tree
}

func writeImage(t *testing.T, tree fstest.MapFS, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "esp.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	opts := Options{Label: "ESP", VolumeID: 0x1234ABCD, Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), HiddenSectors: 4096}
	if err := Write(context.Background(), f, 0, size, tree, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteCheckedByFsckAndMtools(t *testing.T) {
	fsck := reftest.Tool(t, "fsck.vfat")
	mtype := reftest.Tool(t, "mtype")
	mdir := reftest.Tool(t, "mdir")
	tree := testTree()
	img := writeImage(t, tree, 64<<20)

	out, err := exec.Command(fsck, "-n", "-V", img).CombinedOutput()
	if err != nil {
		t.Fatalf("fsck.vfat -n: %v\n%s", err, out)
	}
	// fsck.vfat exits 0 on some warnings; any line besides its banner,
	// the verification pass and the summary is a complaint.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "fsck.fat ") || strings.HasPrefix(line, "Starting ") ||
			strings.HasPrefix(line, "Checking we can access") || strings.HasPrefix(line, img+":") {
			continue
		}
		t.Errorf("fsck.vfat complained: %q\n%s", line, out)
	}

	env := append(os.Environ(), "MTOOLS_SKIP_CHECK=0", "MTOOLS_LOWER_CASE=0")
	for name, f := range tree {
		cmd := exec.Command(mtype, "-i", img, "::/"+name)
		cmd.Env = env
		got, err := cmd.Output()
		if err != nil {
			t.Errorf("mtype %s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("mtype %s: got %d bytes (sha %x), want %d (sha %x)", name, len(got), sha256.Sum256(got), len(f.Data), sha256.Sum256(f.Data))
		}
	}
	cmd := exec.Command(mdir, "-i", img, "::/")
	cmd.Env = env
	listing, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, listing)
	}
	for _, want := range []string{"Volume in drive : is ESP", "Volume Serial Number is 1234-ABCD", "EFI"} {
		if !strings.Contains(string(listing), want) {
			t.Errorf("mdir ::/ lacks %q:\n%s", want, listing)
		}
	}
	cmd = exec.Command(mdir, "-i", img, "::/EFI/BOOT")
	cmd.Env = env
	listing, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, listing)
	}
	// Case is kept for names that fit 8.3 in one case.
	for _, want := range []string{"BOOTX64  EFI", "grub     cfg", "grubx64  efi", "2024-05-06"} {
		if !strings.Contains(string(listing), want) {
			t.Errorf("mdir ::/EFI/BOOT lacks %q:\n%s", want, listing)
		}
	}
}

func TestWriteIsReproducible(t *testing.T) {
	a, err := os.ReadFile(writeImage(t, testTree(), 40<<20))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(writeImage(t, testTree(), 40<<20))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same tree differ")
	}
}

func TestWriteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree fstest.MapFS
		size int64
		opts Options
		want string
	}{
		{"too small for FAT32", fstest.MapFS{"a": {}}, 16 << 20, Options{}, "FAT32 needs at least"},
		{"does not fit", fstest.MapFS{"a": {Data: make([]byte, 40<<20)}}, 34 << 20, Options{}, "does not fit"},
		{"case clash", fstest.MapFS{"a.txt": {}, "A.TXT": {}}, 34 << 20, Options{}, "differ only in case"},
		{"symlink", fstest.MapFS{"l": {Mode: os.ModeSymlink}}, 34 << 20, Options{}, "holds only regular files"},
		{"label", fstest.MapFS{}, 34 << 20, Options{Label: "a/b"}, "not allowed"},
		{"odd size", fstest.MapFS{}, 34<<20 + 1, Options{}, "multiple of 512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "img"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = Write(context.Background(), f, 0, tc.size, tc.tree, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestPlainShortName(t *testing.T) {
	for _, tc := range []struct {
		in    string
		short string
		bits  byte
		ok    bool
	}{
		{"BOOTX64.EFI", "BOOTX64 EFI", 0, true},
		{"grub.cfg", "GRUB    CFG", 0x18, true},
		{"fonts", "FONTS      ", 0x08, true},
		{"x.TXT", "X       TXT", 0x08, true},
		{"Grub.cfg", "", 0, false},
		{"toolongname.efi", "", 0, false},
		{".hidden", "", 0, false},
		{"a.b.c", "", 0, false},
		{"a b", "", 0, false},
	} {
		short, bits, ok := plainShortName(tc.in)
		if ok != tc.ok || (ok && (string(short[:]) != tc.short || bits != tc.bits)) {
			t.Errorf("plainShortName(%q) = %q, %#x, %v; want %q, %#x, %v", tc.in, short[:], bits, ok, tc.short, tc.bits, tc.ok)
		}
	}
}
