package vmdk

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"errors"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"testing"

	kflate "github.com/klauspost/compress/flate"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
)

// The grains GrainReader cuts out, with deflate blocks of zeros where the
// extent has no grain, decompress as one stream to the whole disk. The
// decoder is the standard library's, not the compressor's.
func TestGrainsConcatenateIntoOneDeflateStream(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 40<<20 + 1536, Data: 9 << 20, Seed: 21})
	img := filepath.Join(dir, "disk.vmdk")
	encodeFile(t, Encoder{Workers: 3}, raw, img)
	disk, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	grains := (int64(len(disk)) + grainSize - 1) / grainSize
	padded := append(disk, make([]byte, grains*grainSize-int64(len(disk)))...)

	var zeroBlocks bytes.Buffer
	zw, _ := flate.NewWriter(&zeroBlocks, 6)
	zw.Write(make([]byte, grainSize))
	zw.Flush()

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gr, err := NewGrainReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if gr.Size() != int64(len(disk)) {
		t.Fatalf("Size() = %d, want %d", gr.Size(), len(disk))
	}
	var stream bytes.Buffer
	next, present := int64(0), 0
	for {
		g, err := gr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for ; next < g.Index; next++ {
			if !format.IsZero(padded[next*grainSize : (next+1)*grainSize]) {
				t.Fatalf("grain %d holds data but the extent skips it", next)
			}
			stream.Write(zeroBlocks.Bytes())
		}
		data := padded[g.Index*grainSize : (g.Index+1)*grainSize]
		if sum := adler32.Checksum(data); g.Adler32 != sum {
			t.Errorf("grain %d: Adler32 %08x, the disk's %08x", g.Index, g.Adler32, sum)
		}
		if !bytes.HasSuffix(g.Deflate, syncFlush) {
			t.Errorf("grain %d: Deflate ends % x, not with a sync flush", g.Index, g.Deflate[max(len(g.Deflate)-8, 0):])
		}
		stream.Write(g.Deflate)
		next, present = g.Index+1, present+1
	}
	for ; next < grains; next++ {
		stream.Write(zeroBlocks.Bytes())
	}
	if present == 0 || int64(present) == grains {
		t.Fatalf("%d of %d grains present; the disk should have both data and holes", present, grains)
	}
	stream.Write(finalBlock)
	got, err := io.ReadAll(flate.NewReader(&stream))
	if err != nil {
		t.Fatalf("inflating the concatenated grains: %v", err)
	}
	if !bytes.Equal(got, padded) {
		t.Fatalf("concatenated grains inflate to %d bytes that differ from the disk's %d", len(got), len(padded))
	}
	if _, err := gr.Next(); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
}

// Each grain is still a plain zlib stream, the standard library's reader
// checking its header and Adler-32.
func TestGrainIsAZlibStream(t *testing.T) {
	data := bytes.Repeat([]byte("kiln grain "), grainSize/11+1)[:grainSize]
	for _, level := range []int{1, 4, 6, 9} {
		fw, _ := kflate.NewWriter(nil, level)
		b, err := compress(fw, level, 3, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zlib.NewReader(bytes.NewReader(b[12:]))
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: zlib reader got %d bytes, %v", level, len(got), err)
		}
	}
}

// qemu-img ends its grains with a final block of data: nothing to cut out.
func TestGrainReaderRefusesOtherWriters(t *testing.T) {
	qemuImg := formattest.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 8 << 20, Data: 2 << 20, Seed: 22})
	img := filepath.Join(dir, "qemu.vmdk")
	run(t, qemuImg, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, img)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gr, err := NewGrainReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gr.Next(); !errors.Is(err, ErrNotConcatenable) {
		t.Errorf("Next on a qemu-img extent = %v, want ErrNotConcatenable", err)
	}
	if _, err := NewGrainReader(bytes.NewReader(make([]byte, 1024))); err == nil {
		t.Error("NewGrainReader accepted zeros")
	}
}

func FuzzGrainReader(f *testing.F) {
	disk := bytes.Repeat([]byte("fuzz"), 3*grainSize/4)
	disk = append(disk, make([]byte, 2*grainSize)...)
	disk = append(disk, bytes.Repeat([]byte{7}, grainSize/2)...)
	var b bytes.Buffer
	if err := (Encoder{}).Encode(context.Background(), &b, bytes.NewReader(disk), int64(len(disk))); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:len(b.Bytes())/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		gr, err := NewGrainReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		last := int64(-1)
		for {
			g, err := gr.Next()
			if err != nil {
				return
			}
			if g.Index <= last || g.Index*grainSize >= gr.Size() || !bytes.HasSuffix(g.Deflate, syncFlush) {
				t.Fatalf("grain %d after %d, disk of %d bytes, deflate % x", g.Index, last, gr.Size(), g.Deflate)
			}
			last = g.Index
		}
	})
}
