package gce

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
	"github.com/kiln-build/kiln/builder/format/vmdk"
)

var buildTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func encodeFile(t *testing.T, enc format.Encoder, raw, out string) {
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

// writeVMDK encodes raw as raw.vmdk beside it and returns it, opened.
func writeVMDK(t *testing.T, raw string, enc vmdk.Encoder) *vmdk.Encoded {
	t.Helper()
	img := raw + ".vmdk"
	encodeFile(t, enc, raw, img)
	return openVMDK(t, img, enc.FileName)
}

// openVMDK opens a VMDK file as the value the encoder reuses.
func openVMDK(tb testing.TB, path, fileName string) *vmdk.Encoded {
	tb.Helper()
	e, f, err := vmdk.OpenEncoded(path, fileName)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return &e
}

// paddedSum is the sha256 of the raw disk followed by zeros up to a GiB.
func paddedSum(t *testing.T, raw string, padded int64) string {
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(b)
	io.CopyN(h, zeroReader{}, padded-int64(len(b)))
	return hex.EncodeToString(h.Sum(nil))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestGNUTarExtracts has GNU tar and gzip read the archive back. The
// archive is padded to 64 MiB instead of 1 GiB so the tools run quickly;
// TestPaddingToGiB checks the real rounding.
func TestGNUTarExtracts(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 40<<20 + 512, Data: 9 << 20, Seed: 3})
	out := filepath.Join(dir, FileName("node"))
	encodeFile(t, Encoder{ModTime: buildTime, Workers: 3, roundTo: 64 << 20}, raw, out)
	checkWithGNUTar(t, raw, out)
}

// The archive made from the VMDK's grains passes the same checks.
func TestFromVMDKExtractsWithGNUTar(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 40<<20 + 512, Data: 9 << 20, Seed: 3})
	img := writeVMDK(t, raw, vmdk.Encoder{Workers: 2})
	out := filepath.Join(dir, FileName("node"))
	encodeFile(t, Encoder{ModTime: buildTime, Workers: 3, roundTo: 64 << 20, VMDK: img}, raw, out)
	checkWithGNUTar(t, raw, out)
}

// checkWithGNUTar checks out, the archive of raw padded to 64 MiB, with
// gzip -t, tar -tv and tar -xO, then reads its headers in Go.
func checkWithGNUTar(t *testing.T, raw, out string) {
	t.Helper()
	tarBin := formattest.RequireTool(t, "tar")
	gzipBin := formattest.RequireTool(t, "gzip")
	if b, err := exec.Command(gzipBin, "-t", out).CombinedOutput(); err != nil {
		t.Fatalf("gzip -t: %v\n%s", err, b)
	}
	list, err := exec.Command(tarBin, "--numeric-owner", "--full-time", "-tvzf", out).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tvzf: %v\n%s", err, list)
	}
	want := "-rw-r--r-- 0/0 67108864 2025-03-01 12:00:00 disk.raw"
	if got := strings.Join(strings.Fields(string(list)), " "); got != want {
		t.Errorf("tar -tvzf = %q, want %q", got, want)
	}
	// Extract to stdout and hash: contents plus zero padding must match.
	cmd := exec.Command(tarBin, "-xzOf", out, EntryName)
	h := sha256.New()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = h, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tar -xzOf: %v\n%s", err, stderr.Bytes())
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), paddedSum(t, raw, 64<<20); got != want {
		t.Errorf("extracted disk.raw sha256 %s, want %s", got, want)
	}
	// The tar header is GNU ("ustar  \0" magic), as GCE asks for.
	f, _ := os.Open(out)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.Equal(buildTime) {
		t.Errorf("gzip mtime %v, want %v", zr.ModTime, buildTime)
	}
	blk := make([]byte, 512)
	if _, err := io.ReadFull(zr, blk); err != nil {
		t.Fatal(err)
	}
	if string(blk[257:265]) != "ustar  \x00" {
		t.Errorf("tar magic %q, want GNU", blk[257:265])
	}
	hdr, err := tar.NewReader(io.MultiReader(bytes.NewReader(blk), zr)).Next()
	if err != nil || hdr.Format != tar.FormatGNU || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" {
		t.Errorf("tar header %+v, %v", hdr, err)
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 16 << 20, Data: 5 << 20, Seed: 5})
	var first []byte
	for _, w := range []int{1, 4} {
		p := filepath.Join(dir, "out.tar.gz")
		encodeFile(t, Encoder{ModTime: buildTime, Workers: w}, raw, p)
		b, _ := os.ReadFile(p)
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatalf("encode with %d workers differs", w)
		}
	}
}

func TestPaddingToGiB(t *testing.T) {
	for _, tc := range []struct{ size, want int64 }{
		{512, 1 << 30}, {1 << 30, 1 << 30}, {1<<30 + 512, 2 << 30}, {20 << 30, 20 << 30},
	} {
		if got := PaddedSize(tc.size); got != tc.want {
			t.Errorf("PaddedSize(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
	var out bytes.Buffer
	if err := (Encoder{}).Encode(context.Background(), &out, bytes.NewReader(make([]byte, 4096)), 4096); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Size != 1<<30 || hdr.Name != EntryName || !hdr.ModTime.Equal(time.Unix(0, 0)) {
		t.Fatalf("header %+v, %v", hdr, err)
	}
	// 1 GiB of zeros decompresses quickly in Go; the CRC-32 and size in
	// the gzip trailer are checked at EOF.
	n, err := io.Copy(io.Discard, zr)
	if err != nil || n != 1<<30+1024 {
		t.Fatalf("decompressed %d bytes after the header, %v; want %d", n, err, 1<<30+1024)
	}
}

func TestLargeDiskUsesGNUSize(t *testing.T) {
	// 9 GiB does not fit ustar's 11 octal digits; GNU tar's base-256 does.
	size := int64(9<<30 - 4096)
	f, err := os.Create(filepath.Join(t.TempDir(), "big.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(size)
	f.WriteAt([]byte("kiln"), 5<<30)
	var out bytes.Buffer
	if err := (Encoder{}).Encode(context.Background(), &out, f, size); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := tar.NewReader(zr).Next()
	if err != nil || hdr.Size != 9<<30 {
		t.Fatalf("header %+v, %v", hdr, err)
	}
	// The rest of the stream is checked by TestGNUTarExtracts at 1 GiB;
	// decompressing 9 GiB here would take too long.
}

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a := make([]byte, rng.IntN(3000))
		b := make([]byte, rng.IntN(3000))
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(append(a, b...)); got != want {
			t.Fatalf("crc32Combine(len %d, len %d) = %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

func TestFromVMDKDeterministic(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 16 << 20, Data: 5 << 20, Seed: 5})
	img := writeVMDK(t, raw, vmdk.Encoder{})
	var first []byte
	for _, w := range []int{1, 4} {
		p := filepath.Join(dir, "out.tar.gz")
		encodeFile(t, Encoder{ModTime: buildTime, Workers: w, VMDK: img}, raw, p)
		b, _ := os.ReadFile(p)
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatalf("encode from the vmdk with %d workers differs", w)
		}
	}
}

// A whole GiB of disk.raw from a small VMDK: the zero runs, the CRC-32 and
// the length (checked by Go's gzip reader at EOF) and the bytes.
func TestFromVMDKPadsToGiB(t *testing.T) {
	disk := make([]byte, 3<<20+512)
	for i := range disk[:200<<10] {
		disk[i] = byte(i * 13 / 700)
	}
	copy(disk[len(disk)-512:], "the last sector of the disk, in a grain that is mostly past the end")
	var img bytes.Buffer
	if err := (vmdk.Encoder{}).Encode(context.Background(), &img, bytes.NewReader(disk), int64(len(disk))); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (Encoder{}).EncodeFromVMDK(context.Background(), &out, &img, bytes.NewReader(disk), int64(len(disk))); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Size != 1<<30 || hdr.Name != EntryName || hdr.Format != tar.FormatGNU || !hdr.ModTime.Equal(time.Unix(0, 0)) {
		t.Fatalf("header %+v, %v", hdr, err)
	}
	got := make([]byte, len(disk))
	if _, err := io.ReadFull(tr, got); err != nil || !bytes.Equal(got, disk) {
		t.Fatalf("disk.raw does not start with the disk (%v)", err)
	}
	// The rest of disk.raw is zeros, then the tar end blocks.
	n, err := io.Copy(zeroChecker{t}, zr)
	if want := int64(1<<30 - len(disk) + 1024); err != nil || n != want {
		t.Fatalf("read %d bytes after the disk, %v; want %d", n, err, want)
	}
}

type zeroChecker struct{ t *testing.T }

func (z zeroChecker) Write(p []byte) (int, error) {
	if !format.IsZero(p) {
		z.t.Fatal("non-zero byte in the padding")
	}
	return len(p), nil
}

func TestFromVMDKRefusesAnotherDisk(t *testing.T) {
	dir := t.TempDir()
	raw := formattest.WriteDisk(t, dir, formattest.Disk{Size: 8 << 20, Data: 2 << 20, Seed: 6})
	img := writeVMDK(t, raw, vmdk.Encoder{})
	disk, _ := os.ReadFile(raw)
	encode := func(disk []byte) error {
		return Encoder{VMDK: img}.Encode(context.Background(), io.Discard, bytes.NewReader(disk), int64(len(disk)))
	}
	if err := encode(disk); err != nil {
		t.Fatalf("the vmdk's own disk: %v", err)
	}
	changed := bytes.Clone(disk)
	changed[100] ^= 1
	if err := encode(changed); err == nil || !strings.Contains(err.Error(), "does not hold the disk's bytes") {
		t.Errorf("a changed byte: %v", err)
	}
	more := bytes.Clone(disk)
	holes := 0
	for off := 0; off < len(more); off += 64 << 10 {
		if format.IsZero(more[off : off+64<<10]) {
			more[off] = 1 // data where the vmdk has no grain
			holes++
		}
	}
	if holes == 0 {
		t.Fatal("the test disk has no zero grain")
	}
	if err := encode(more); err == nil || !strings.Contains(err.Error(), "the vmdk lacks") {
		t.Errorf("data the vmdk lacks: %v", err)
	}
	if err := encode(disk[:len(disk)-512]); err == nil || !strings.Contains(err.Error(), "byte disk") {
		t.Errorf("another size: %v", err)
	}
	if qemuImg, err := exec.LookPath("qemu-img"); err == nil {
		qimg := filepath.Join(dir, "qemu.vmdk")
		formattest.RunTool(t, qemuImg, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, qimg)
		err := Encoder{VMDK: openVMDK(t, qimg, "")}.Encode(context.Background(), io.Discard, bytes.NewReader(disk), int64(len(disk)))
		if !errors.Is(err, vmdk.ErrNotConcatenable) {
			t.Errorf("a qemu-img vmdk: %v, want vmdk.ErrNotConcatenable", err)
		}
	}
}
