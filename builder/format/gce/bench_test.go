package gce

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
)

// The benchmarks convert the same 2 GiB sparse disk (400 MB of data);
// MB/s is over the disk's 2 GiB. BenchmarkGNUTarGzip runs the command GCE
// documents, tar --format=oldgnu -Sczf (sparse tar, single-threaded gzip).

func BenchmarkEncode(b *testing.B) {
	raw, size := formattest.BenchDisk(b)
	f, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(b.TempDir(), FileName("disk"))
	b.SetBytes(size)
	for b.Loop() {
		if err := format.WriteFile(context.Background(), out, Encoder{}, f, size); err != nil {
			b.Fatal(err)
		}
	}
	formattest.ReportOutput(b, out, size)
}

func BenchmarkGNUTarGzip(b *testing.B) {
	tarBin := formattest.RequireTool(b, "tar")
	raw, size := formattest.BenchDisk(b)
	out := filepath.Join(b.TempDir(), FileName("disk"))
	b.SetBytes(size)
	for b.Loop() {
		formattest.RunTool(b, tarBin, "--format=oldgnu", "-Sczf", out, "-C", filepath.Dir(raw), filepath.Base(raw))
	}
	formattest.ReportOutput(b, out, size)
}
