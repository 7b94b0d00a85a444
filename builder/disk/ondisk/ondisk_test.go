package ondisk_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/disk/ondisk"
	"github.com/kiln-build/kiln/builder/reftest"
)

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// sgdisk (the reference) makes the table; ReadGPT and Partitions read back
// what it wrote, and a flipped byte is caught by the checksums.
func TestReadGPTReadsWhatSgdiskWrote(t *testing.T) {
	reftest.Tool(t, "sgdisk")
	p := filepath.Join(t.TempDir(), "disk.img")
	run(t, "truncate", "-s", "64M", p)
	run(t, "sgdisk", "-U", "11111111-2222-3333-4444-555555555555", "-n", "1:2048:+1M", "-t", "1:ef02", "-c", "1:BIOS boot",
		"-n", "2:0:0", "-t", "2:8300", "-u", "2:0b6e3a1c-1111-2222-3333-444455556666", "-c", "2:root", p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := ondisk.ReadGPT(f)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := h.ReadEntries(f)
	if err != nil {
		t.Fatal(err)
	}
	parts := h.Partitions(entries)
	if h.DiskGUID != "11111111-2222-3333-4444-555555555555" || h.SectorSize != 512 || len(parts) != 2 {
		t.Fatalf("ReadGPT = disk %s, sectors %d, %d partitions", h.DiskGUID, h.SectorSize, len(parts))
	}
	bios, root := parts[0], parts[1]
	if bios.Name != "BIOS boot" || bios.Type != "21686148-6449-6e6f-744e-656564454649" || bios.Start(512) != 1<<20 || bios.Size(512) != 1<<20 {
		t.Errorf("partition 1 = %+v", bios)
	}
	if root.Number != 2 || root.Name != "root" || root.GUID != "0b6e3a1c-1111-2222-3333-444455556666" || root.Type != "0fc63daf-8483-4772-8e79-3d69d8477de4" {
		t.Errorf("partition 2 = %+v", root)
	}
	f.WriteAt([]byte{0xff}, int64(h.EntriesLBA)*512+60) // inside entry 1's GUID
	if _, err := h.ReadEntries(f); err == nil {
		t.Error("ReadEntries accepted a damaged entry table")
	}
	if _, err := ondisk.ReadGPT(bytesReader(make([]byte, 8192))); !errors.Is(err, ondisk.ErrNoGPT) {
		t.Errorf("blank disk: %v, want ErrNoGPT", err)
	}
}

func TestReadExt4ReadsWhatMke2fsWrote(t *testing.T) {
	reftest.Tool(t, "mke2fs")
	p := filepath.Join(t.TempDir(), "fs.img")
	run(t, "truncate", "-s", "32M", p)
	run(t, "mke2fs", "-q", "-t", "ext4", "-b", "4096", "-U", "0b6e3a1c-1111-2222-3333-444455556666", p)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := ondisk.ReadExt4(f)
	if err != nil {
		t.Fatal(err)
	}
	if info.UUID != "0b6e3a1c-1111-2222-3333-444455556666" || info.BlockSize != 4096 || info.Blocks != 8192 {
		t.Errorf("ReadExt4() = %+v", info)
	}
	if _, err := ondisk.ReadExt4(bytesReader(make([]byte, 4096))); err != ondisk.ErrNotExt4 {
		t.Errorf("blank: %v, want ErrNotExt4", err)
	}
}

type bytesReader []byte

func (b bytesReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}
