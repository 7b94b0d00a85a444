package qcow2

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/format/formattest"
)

// The benchmarks convert the same 2 GiB sparse disk (400 MB of data);
// MB/s is over the disk's 2 GiB. Compare with BenchmarkQemuImgConvert.

func BenchmarkEncode(b *testing.B) {
	formattest.BenchEncode(b, Encoder{}, "disk.qcow2")
}

func BenchmarkQemuImgConvert(b *testing.B) {
	qemuImg := formattest.RequireTool(b, "qemu-img")
	raw, size := formattest.BenchDisk(b)
	out := filepath.Join(b.TempDir(), "disk.qcow2")
	b.SetBytes(size)
	for b.Loop() {
		formattest.RunTool(b, qemuImg, "convert", "-f", "raw", "-O", "qcow2", raw, out)
	}
	formattest.ReportOutput(b, out, size)
}

// BenchmarkEncodeNoSync writes the image without WriteFile's fsync, which
// is what qemu-img convert does by default.
func BenchmarkEncodeNoSync(b *testing.B) {
	raw, size := formattest.BenchDisk(b)
	f, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(b.TempDir(), "disk.qcow2")
	b.SetBytes(size)
	for b.Loop() {
		o, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if err := (Encoder{}).Encode(context.Background(), o, f, size); err != nil {
			b.Fatal(err)
		}
		o.Close()
	}
	formattest.ReportOutput(b, out, size)
}
