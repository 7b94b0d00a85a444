package vmdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	govmdk "github.com/vmware/govmomi/vmdk"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
)

func encodeFile(t *testing.T, enc Encoder, raw, out string) {
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
	if err := format.WriteFile(context.Background(), out, enc, f, fi.Size()); err != nil {
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

func TestQemuAcceptsExtents(t *testing.T) {
	qemuImg := formattest.RequireTool(t, "qemu-img")
	for _, d := range []formattest.Disk{
		{Size: 512, Data: 0, Seed: 1},
		{Size: 64<<10 + 1536, Data: 8 << 10, Seed: 2},
		{Size: 48 << 20, Data: 0, Seed: 3},
		{Size: 48 << 20, Data: 12 << 20, Seed: 4},
		{Size: 1<<30 + 4096, Data: 6 << 20, Seed: 5},
		{Size: 8 << 20, Data: 32 << 20, Seed: 6},
	} {
		dir := t.TempDir()
		raw := formattest.WriteDisk(t, dir, d)
		img := filepath.Join(dir, "disk.vmdk")
		encodeFile(t, Encoder{Workers: 3}, raw, img)

		run(t, qemuImg, "check", "-f", "vmdk", img)
		run(t, qemuImg, "compare", "-f", "raw", "-F", "vmdk", raw, img)
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
			Specific    struct {
				Data struct {
					CreateType string `json:"create-type"`
					Extents    []struct {
						Compressed  bool  `json:"compressed"`
						ClusterSize int64 `json:"cluster-size"`
					} `json:"extents"`
				} `json:"data"`
			} `json:"format-specific"`
		}
		if err := json.Unmarshal(run(t, qemuImg, "info", "--output=json", img), &info); err != nil {
			t.Fatal(err)
		}
		sd := info.Specific.Data
		if info.Format != "vmdk" || info.VirtualSize != d.Size || sd.CreateType != "streamOptimized" ||
			len(sd.Extents) != 1 || !sd.Extents[0].Compressed || sd.Extents[0].ClusterSize != 65536 {
			t.Errorf("disk %+v: qemu-img info = %+v", d, info)
		}
	}
}

// TestLayout reads the extent back the way a streaming reader does: header,
// then markers in order, and checks the footer and end-of-stream marker.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 100 << 20, Data: 5 << 20, Seed: 11})
	img := filepath.Join(dir, "disk.vmdk")
	u := [16]byte{0x60, 0x00, 0xc2, 0x9a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	encodeFile(t, Encoder{FileName: "node-disk1.vmdk", UUID: &u}, raw, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if string(b[:4]) != "KDMV" || le.Uint32(b[4:]) != 3 || le.Uint32(b[8:]) != 0x30001 ||
		le.Uint64(b[56:]) != gdAtEnd || le.Uint16(b[77:]) != 1 {
		t.Fatalf("bad header % x", b[:80])
	}
	desc := string(bytes.TrimRight(b[512:512*21], "\x00"))
	for _, want := range []string{`createType="streamOptimized"`, `RW 204800 SPARSE "node-disk1.vmdk"`,
		`ddb.adapterType = "lsilogic"`, `ddb.uuid = "60 00 c2 9a 01 02 03 04-05 06 07 08 09 0a 0b 0c"`,
		`ddb.virtualHWVersion = "4"`, `ddb.geometry.heads = "255"`} {
		if !strings.Contains(desc, want) {
			t.Errorf("descriptor lacks %q:\n%s", want, desc)
		}
	}
	if len(desc) > 512 {
		t.Errorf("descriptor is %d bytes; govmomi reads only its first sector", len(desc))
	}
	// govmomi's importer reads the header and descriptor the same way.
	info, err := govmdk.Stat(img)
	if err != nil {
		t.Fatalf("govmomi vmdk.Stat: %v", err)
	}
	if info.Capacity != 100<<20 || info.Descriptor.Type != "streamOptimized" || len(info.Descriptor.Extent) != 1 ||
		info.Descriptor.Extent[0].Size != 204800 || info.Descriptor.DDB["adapterType"] != "lsilogic" ||
		info.Descriptor.DDB["uuid"] == "" || info.Descriptor.ParentCID != 0xffffffff {
		t.Errorf("govmomi vmdk.Stat = %+v, descriptor %+v", info, info.Descriptor)
	}
	if len(b)%512 != 0 {
		t.Fatalf("file is %d bytes, not whole sectors", len(b))
	}
	end := len(b)
	if !bytes.Equal(b[end-512:], make([]byte, 512)) {
		t.Error("last sector is not an end-of-stream marker")
	}
	if le.Uint64(b[end-1536:]) != 1 || le.Uint32(b[end-1536+12:]) != markerFooter {
		t.Error("no footer marker before the footer")
	}
	footer := b[end-1024 : end-512]
	gdOff := le.Uint64(footer[56:])
	if string(footer[:4]) != "KDMV" || gdOff == gdAtEnd {
		t.Fatalf("bad footer % x", footer[:80])
	}
	// Walk the markers from the first grain to the footer.
	raws, _ := os.ReadFile(raw)
	tables := 0
	for pos := int64(overheadSectors * 512); pos < int64(end-1536); {
		lba, size, typ := le.Uint64(b[pos:]), le.Uint32(b[pos+8:]), le.Uint32(b[pos+12:])
		if size != 0 { // a grain: check it names a non-zero grain of the disk
			off := int64(lba) * 512
			if lba%grainSectors != 0 || format.IsZero(raws[off:min(off+grainSize, int64(len(raws)))]) {
				t.Fatalf("grain at sector %d has LBA %d", pos/512, lba)
			}
			pos += (12 + int64(size) + 511) / 512 * 512
			continue
		}
		switch typ {
		case markerGT:
			tables++
			if lba != gtSectors {
				t.Fatalf("grain table marker says %d sectors", lba)
			}
		case markerGD:
			if uint64(pos/512+1) != gdOff {
				t.Fatalf("grain directory at sector %d, footer says %d", pos/512+1, gdOff)
			}
		default:
			t.Fatalf("unexpected marker type %d at sector %d", typ, pos/512)
		}
		pos += 512 + int64(lba)*512
	}
	if want := (100<<20 + gtEntries*grainSize - 1) / (gtEntries * grainSize); tables != want {
		t.Errorf("%d grain tables, want %d", tables, want)
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 32 << 20, Data: 6 << 20, Seed: 9})
	var outs [][]byte
	for i, workers := range []int{1, 2, 7} {
		p := filepath.Join(dir, "out.vmdk")
		encodeFile(t, Encoder{Workers: workers}, raw, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
		if i > 0 && !bytes.Equal(outs[0], b) {
			t.Fatalf("encode with %d workers differs from encode with 1", workers)
		}
	}
}

func TestRejectsBadOptions(t *testing.T) {
	for _, e := range []Encoder{{AdapterType: "pvscsi"}, {FileName: `a"b`}, {Level: 12}} {
		if err := e.Encode(context.Background(), &bytes.Buffer{}, bytes.NewReader(make([]byte, 512)), 512); err == nil {
			t.Errorf("Encode with %+v returned nil", e)
		}
	}
}

// CopyRenamed gives exactly what encoding with the other name gives.
func TestCopyRenamedEqualsEncodingWithTheName(t *testing.T) {
	disk := make([]byte, 4<<20)
	for i := range disk {
		disk[i] = byte(i * 7 / 4096)
	}
	encode := func(name string) []byte {
		var b bytes.Buffer
		if err := (Encoder{FileName: name}).Encode(context.Background(), &b, bytes.NewReader(disk), int64(len(disk))); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var renamed bytes.Buffer
	if err := CopyRenamed(context.Background(), &renamed, bytes.NewReader(encode("node-disk1.vmdk")), "node.vmdk"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(renamed.Bytes(), encode("node.vmdk")) {
		t.Error("renamed copy differs from a direct encode")
	}
	if err := CopyRenamed(context.Background(), io.Discard, bytes.NewReader([]byte("not a vmdk at all, just text padding it out to a sector and more................................................................................................................................................................................................................................................................................................................................................................................................................................................................")), "x"); err == nil {
		t.Error("CopyRenamed accepted garbage")
	}
}
