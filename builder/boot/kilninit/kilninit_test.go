package kilninit

import (
	"errors"
	"github.com/kiln-build/kiln/builder/disk/ondisk"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestParseCmdline(t *testing.T) {
	c := ParseCmdline("BOOT_IMAGE=/vmlinuz root=UUID=0b6e3a1c-1111-2222-3333-444455556666 ro rootflags=noatime console=ttyS0 kiln.grow=0 kiln.rootwait=15")
	if c.Root != "UUID=0b6e3a1c-1111-2222-3333-444455556666" || c.ReadWrite || c.RootFlags != "noatime" || !c.NoGrow || c.RootWait != 15 || c.Init != "/sbin/init" || c.RootFSType != "ext4" {
		t.Errorf("ParseCmdline() = %+v", c)
	}
	if c := ParseCmdline("root=/dev/vda3 rw init=/usr/lib/systemd/systemd kiln.rootwait=x"); !c.ReadWrite || c.Init != "/usr/lib/systemd/systemd" || c.RootWait != 90 {
		t.Errorf("ParseCmdline() = %+v", c)
	}
}

// makeDisk partitions an image file the way kiln's disk stage does:
// BIOS boot, ESP, root last.
func makeDisk(t *testing.T, size string) string {
	t.Helper()
	reftest.Tool(t, "sgdisk")
	p := filepath.Join(t.TempDir(), "disk.raw")
	run(t, "truncate", "-s", size, p)
	run(t, "sgdisk", "-n", "1:2048:+1M", "-t", "1:ef02", "-n", "2:0:+8M", "-t", "2:ef00", "-n", "3:0:0", "-t", "3:8304", p)
	return p
}

func TestGrowLastPartitionFillsLargerDisk(t *testing.T) {
	p := makeDisk(t, "64M")
	run(t, "truncate", "-s", "200M", p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := GrowLastPartition(f, 200<<20)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The backup table takes the last 33 sectors; the partition ends on the
	// last 1 MiB boundary before it.
	wantLast := (uint64(200<<20/512)-34+1)/2048*2048 - 1
	if g.Partition != 3 || !g.Grew() || g.NewLastLBA != wantLast {
		t.Fatalf("GrowLastPartition() = %+v, want partition 3 ending at %d", g, wantLast)
	}
	if out := run(t, "sgdisk", "-v", p); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v after grow:\n%s", out)
	}
	info := run(t, "sgdisk", "-i", "3", p)
	if !strings.Contains(info, "Last sector: "+strconv.FormatUint(wantLast, 10)) {
		t.Errorf("sgdisk -i 3:\n%s", info)
	}
	// A second run has nothing to do.
	f, _ = os.OpenFile(p, os.O_RDWR, 0)
	g2, err := GrowLastPartition(f, 200<<20)
	f.Close()
	if err != nil || g2.Grew() {
		t.Errorf("second GrowLastPartition() = %+v, %v; want no change", g2, err)
	}
}

func TestGrowLastPartitionLeavesFullDiskAlone(t *testing.T) {
	p := makeDisk(t, "64M")
	before, _ := os.ReadFile(p)
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	g, err := GrowLastPartition(f, 64<<20)
	f.Close()
	after, _ := os.ReadFile(p)
	if err != nil || g.Grew() || string(before) != string(after) {
		t.Errorf("GrowLastPartition() on a full disk = %+v, %v, changed=%v", g, err, string(before) != string(after))
	}
}

func TestGrowLastPartitionRefusesCorruptGPT(t *testing.T) {
	p := makeDisk(t, "64M")
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	defer f.Close()
	f.WriteAt([]byte{0xff}, 512+60) // inside the disk GUID: header CRC no longer matches
	if _, err := GrowLastPartition(f, 128<<20); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("GrowLastPartition() error = %v, want checksum mismatch", err)
	}
	if _, err := GrowLastPartition(&memDisk{make([]byte, 1<<20)}, 1<<20); !errors.Is(err, ondisk.ErrNoGPT) {
		t.Errorf("blank disk: error = %v, want ondisk.ErrNoGPT", err)
	}
}

type memDisk struct{ b []byte }

func (m *memDisk) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m.b[off:]), nil }
func (m *memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }
