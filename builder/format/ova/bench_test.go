package ova

import (
	"testing"

	"github.com/kiln-build/kiln/builder/format/formattest"
)

// BenchmarkEncode converts the shared 2 GiB benchmark disk into an OVA
// (vmdk through a temp file, then the archive); compare with the vmdk
// package's benchmarks.
func BenchmarkEncode(b *testing.B) {
	formattest.BenchEncode(b, Encoder{VM: testVM(), TempDir: b.TempDir()}, "node.ova")
}
