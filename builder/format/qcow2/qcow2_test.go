package qcow2

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
)

func encodeFile(t *testing.T, raw, out string) {
	t.Helper()
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := format.WriteFile(context.Background(), out, Encoder{}, f, fi.Size()); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// TestQemuAcceptsImages checks the images with qemu-img: no errors or
// leaks, compat 1.1, and the same guest bytes as the raw disk.
func TestQemuAcceptsImages(t *testing.T) {
	qemuImg := formattest.RequireTool(t, "qemu-img")
	for _, d := range []formattest.Disk{
		{Size: 512, Data: 0, Seed: 1},                 // one sector
		{Size: 64<<10 + 1536, Data: 8 << 10, Seed: 2}, // partial last cluster
		{Size: 48 << 20, Data: 0, Seed: 3},            // only the GPT sectors
		{Size: 48 << 20, Data: 12 << 20, Seed: 4},     // scattered data
		{Size: 1<<30 + 4096, Data: 6 << 20, Seed: 5},  // several L2 tables
		{Size: 8 << 20, Data: 32 << 20, Seed: 6},      // dense
	} {
		dir := t.TempDir()
		raw := formattest.WriteDisk(t, dir, d)
		img := filepath.Join(dir, "disk.qcow2")
		encodeFile(t, raw, img)

		run(t, qemuImg, "check", "-f", "qcow2", img)
		run(t, qemuImg, "compare", "-f", "raw", "-F", "qcow2", raw, img)
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
			ClusterSize int64  `json:"cluster-size"`
			Specific    struct {
				Data struct {
					Compat       string `json:"compat"`
					RefcountBits int    `json:"refcount-bits"`
					Corrupt      bool   `json:"corrupt"`
				} `json:"data"`
			} `json:"format-specific"`
		}
		if err := json.Unmarshal(run(t, qemuImg, "info", "--output=json", img), &info); err != nil {
			t.Fatal(err)
		}
		if info.Format != "qcow2" || info.VirtualSize != d.Size || info.ClusterSize != 65536 ||
			info.Specific.Data.Compat != "1.1" || info.Specific.Data.RefcountBits != 16 || info.Specific.Data.Corrupt {
			t.Errorf("disk %+v: qemu-img info = %+v", d, info)
		}
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 32 << 20, Data: 6 << 20, Seed: 9})
	a, b := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
	encodeFile(t, raw, a)
	encodeFile(t, raw, b)
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if len(ab) == 0 || !bytes.Equal(ab, bb) {
		t.Fatalf("two encodes differ (%d and %d bytes)", len(ab), len(bb))
	}
	// The same disk from memory (no SEEK_DATA) gives the same image.
	rb, _ := os.ReadFile(raw)
	var mem bytes.Buffer
	if err := (Encoder{}).Encode(context.Background(), &mem, bytes.NewReader(rb), int64(len(rb))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ab, mem.Bytes()) {
		t.Fatal("encoding from a file and from memory differ")
	}
}

func TestSparseOutput(t *testing.T) {
	// 20 GiB with 512 bytes of data: a few metadata clusters plus one data
	// cluster, found without reading the holes (SEEK_DATA).
	size := int64(20 << 30)
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xab}, 512), 7<<30); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (Encoder{}).Encode(context.Background(), &out, f, size); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 6*clusterSize { // header, L1, refcount table and block, L2, data
		t.Fatalf("image of a nearly empty 20 GiB disk is %d bytes, want %d", out.Len(), 6*clusterSize)
	}
}

func TestPlanCoversItself(t *testing.T) {
	for _, allocated := range []int64{0, 1, refsPerBlock - 10, refsPerBlock, 3*refsPerBlock + 5, 5_000_000} {
		clusters := allocated + 1000
		alloc := make(bitmap, (clusters+63)/64)
		for i := range allocated {
			alloc.set(i)
		}
		l := plan(clusters*clusterSize, alloc)
		if l.total != l.dataOff+allocated {
			t.Errorf("%d clusters: total %d, want %d", allocated, l.total, l.dataOff+allocated)
		}
		if l.rbClusters*refsPerBlock < l.total {
			t.Errorf("%d clusters: %d refcount blocks cannot count %d clusters", allocated, l.rbClusters, l.total)
		}
		if l.rtClusters*clusterSize/8 < l.rbClusters {
			t.Errorf("%d clusters: %d refcount table clusters cannot hold %d blocks", allocated, l.rtClusters, l.rbClusters)
		}
		if want := ceilDiv(allocated, l2Entries); l.l2Tables != want {
			t.Errorf("%d clusters: %d L2 tables, want %d", allocated, l.l2Tables, want)
		}
	}
}

func TestRejectsBadSize(t *testing.T) {
	var out bytes.Buffer
	if err := (Encoder{}).Encode(context.Background(), &out, bytes.NewReader(nil), 1000); err == nil {
		t.Fatal("Encode with size 1000 returned nil")
	}
}
