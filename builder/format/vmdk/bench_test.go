package vmdk

import (
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/format/formattest"
)

// The benchmarks convert the same 2 GiB sparse disk (400 MB of data);
// MB/s is over the disk's 2 GiB. Compare with BenchmarkQemuImgConvert.

func BenchmarkEncode(b *testing.B) {
	formattest.BenchEncode(b, Encoder{}, "disk.vmdk")
}

func BenchmarkQemuImgConvert(b *testing.B) {
	qemuImg := formattest.RequireTool(b, "qemu-img")
	raw, size := formattest.BenchDisk(b)
	out := filepath.Join(b.TempDir(), "disk.vmdk")
	b.SetBytes(size)
	for b.Loop() {
		formattest.RunTool(b, qemuImg, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, out)
	}
	formattest.ReportOutput(b, out, size)
}
