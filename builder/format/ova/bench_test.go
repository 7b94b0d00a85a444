package ova

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
)

// BenchmarkEncode converts the shared 2 GiB benchmark disk into an OVA
// (vmdk through a temp file, then the archive); compare with the vmdk
// package's benchmarks.
func BenchmarkEncode(b *testing.B) {
	raw, size := formattest.BenchDisk(b)
	f, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dir := b.TempDir()
	out := filepath.Join(dir, "node.ova")
	enc := Encoder{VM: testVM(), TempDir: dir}
	b.SetBytes(size)
	for b.Loop() {
		if err := format.WriteFile(context.Background(), out, enc, f, size); err != nil {
			b.Fatal(err)
		}
	}
	formattest.ReportOutput(b, out, size)
}
