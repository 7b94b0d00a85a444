// Package format holds what kiln's disk image writers share: the Encoder
// contract (a streaming transform of a raw disk, given as an io.ReaderAt and
// its size), a sparse-aware block reader that skips holes and all-zero
// blocks, and WriteFile, which writes an encoder's output atomically.
//
// Each output format lives in its own sub-package: qcow2, vmdk
// (streamOptimized), ova (OVF descriptor + manifest + vmdk in a tar) and gce
// (disk.raw in a gzipped GNU tar).
//
//	raw, _ := os.Open("disk.raw")
//	fi, _ := raw.Stat()
//	err := format.WriteFile(ctx, "out/node.qcow2", qcow2.Encoder{}, raw, fi.Size())
package format
