package gce

import (
	"bufio"
	"context"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"io"
	"sync"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/internal/ordered"
	"github.com/kiln-build/kiln/builder/format/vmdk"
)

// piece is a stretch of disk.raw taken from the VMDK: one grain, or a run
// of zero grains the VMDK leaves out.
type piece struct {
	index   int64
	zeros   int64   // grains in a zero run; 0 for a grain from the VMDK
	deflate *[]byte // the VMDK grain's deflate blocks
	adler   uint32  // and its Adler-32
	raw     *[]byte // the disk's bytes of the grain; nil when all zero
	crc     uint32
}

// EncodeFromVMDK writes the same archive as Encode, a gzip'd GNU tar of
// disk.raw, without compressing the disk's data again: the deflate blocks
// of each grain of src, a streamOptimized VMDK of this disk written by
// vmdk.Encoder and read sequentially, are copied into the gzip stream.
//
// vmdk.Encoder ends each grain's deflate data with a sync flush and puts
// the final block after it, so the grains' blocks, back to back, form one
// deflate stream (RFC 1951) whose back-references never reach into the
// grain before. The gzip member (RFC 1952) is the header, then sync-flushed
// pieces: the tar header block, every grain of the padded disk (the VMDK's,
// or a precompressed run of zeros where it has none), the tar end blocks;
// then an empty final block, the CRC-32 and the length.
//
// The disk is read too, but only its non-zero grains, and only to be
// checksummed: the CRC-32 of disk.raw comes from it, and each VMDK grain's
// Adler-32 must match the disk's bytes, so a VMDK of another disk, or one
// not written by kiln (vmdk.ErrNotConcatenable), is an error rather than a
// wrong archive. Level applies to the tar blocks and the zero runs; the
// disk's data keeps the VMDK's level. The output is deterministic, though
// not the bytes Encode writes.
func (e Encoder) EncodeFromVMDK(ctx context.Context, dst io.Writer, src io.Reader, disk io.ReaderAt, size int64) error {
	s, err := e.settings(size)
	if err != nil {
		return err
	}
	if s.padded%vmdk.GrainSize != 0 {
		return fmt.Errorf("disk.raw of %d bytes is not whole vmdk grains", s.padded)
	}
	gr, err := vmdk.NewGrainReader(src)
	if err != nil {
		return err
	}
	if gr.Size() != size {
		return fmt.Errorf("the vmdk is of a %d-byte disk, the raw disk has %d bytes", gr.Size(), size)
	}
	hdr, err := tarHeader(s.padded, s.mtime)
	if err != nil {
		return err
	}
	d := newDeflaters(s.level)
	zeroGrain := make([]byte, vmdk.GrainSize)
	var hdrZ, endZ, zeroGrainZ, zeroChunkZ []byte
	for _, p := range []struct {
		out *[]byte
		raw []byte
	}{{&hdrZ, hdr}, {&endZ, make([]byte, 1024)}, {&zeroGrainZ, zeroGrain}, {&zeroChunkZ, make([]byte, chunkSize)}} {
		if *p.out, err = d.deflate(p.raw, nil); err != nil {
			return fmt.Errorf("compressing: %w", err)
		}
	}
	zeroGrainCRC, zeroGrainAdler := crc32.ChecksumIEEE(zeroGrain), adler32.Checksum(zeroGrain)
	zeroChunkCRC := crc32.ChecksumIEEE(make([]byte, chunkSize))
	const chunkGrains = chunkSize / vmdk.GrainSize

	bw := bufio.NewWriterSize(dst, 1<<20)
	gz := &writer{w: bw}
	gz.write(gzipHeader(s.mtime))
	gz.write(hdrZ)
	crc, total := crc32.ChecksumIEEE(hdr), int64(len(hdr))

	grains := s.padded / vmdk.GrainSize
	rawPool := sync.Pool{New: func() any { b := make([]byte, vmdk.GrainSize); return &b }}
	zPool := sync.Pool{New: func() any { b := make([]byte, 0, 2*vmdk.GrainSize); return &b }}

	// Two cursors in disk order: the disk's next non-zero grain and the
	// VMDK's next grain; grains is "none left".
	blocks := format.NewBlockReader(disk, size, vmdk.GrainSize)
	rawIdx, vIdx := int64(0), int64(0)
	var rawBuf *[]byte
	var vg vmdk.Grain
	nextRaw := func() error {
		rawBuf = rawPool.Get().(*[]byte)
		i, ok, err := blocks.Next(*rawBuf)
		if err != nil {
			return fmt.Errorf("reading disk: %w", err)
		}
		if !ok {
			rawPool.Put(rawBuf)
			rawBuf, i = nil, grains
		}
		rawIdx = i
		return nil
	}
	nextVMDK := func() (err error) {
		vg, err = gr.Next()
		switch {
		case err == io.EOF:
			vIdx = grains
			return nil
		case err != nil:
			return fmt.Errorf("reading the vmdk: %w", err)
		}
		vIdx = vg.Index
		return nil
	}
	if err := nextRaw(); err != nil {
		return err
	}
	if err := nextVMDK(); err != nil {
		return err
	}

	i := int64(0)
	err = ordered.Run(ctx, s.workers, 4*s.workers,
		func() (piece, bool, error) {
			switch {
			case i >= grains:
				return piece{}, false, nil
			case rawIdx < vIdx:
				return piece{}, false, fmt.Errorf("the disk has data at offset %d that the vmdk lacks: is the vmdk of another disk?", rawIdx*vmdk.GrainSize)
			case i < vIdx:
				p := piece{index: i, zeros: vIdx - i}
				i = vIdx
				return p, true, nil
			}
			z := zPool.Get().(*[]byte)
			*z = append((*z)[:0], vg.Deflate...)
			p := piece{index: i, deflate: z, adler: vg.Adler32}
			if rawIdx == i {
				p.raw = rawBuf
				if err := nextRaw(); err != nil {
					return piece{}, false, err
				}
			}
			i++
			return p, true, nextVMDK()
		},
		func(p piece) (piece, error) {
			if p.zeros > 0 {
				return p, nil
			}
			sum := zeroGrainAdler
			p.crc = zeroGrainCRC
			if p.raw != nil {
				p.crc, sum = crc32.ChecksumIEEE(*p.raw), adler32.Checksum(*p.raw)
				rawPool.Put(p.raw)
				p.raw = nil
			}
			if sum != p.adler {
				return p, fmt.Errorf("vmdk grain %d does not hold the disk's bytes at offset %d (Adler-32 %08x, the disk's %08x)",
					p.index, p.index*vmdk.GrainSize, p.adler, sum)
			}
			return p, nil
		},
		func(p piece) error {
			if p.zeros == 0 {
				gz.write(*p.deflate)
				zPool.Put(p.deflate)
				crc = crc32Combine(crc, p.crc, vmdk.GrainSize)
				total += vmdk.GrainSize
				return gz.err
			}
			for n := p.zeros; n > 0; {
				if n >= chunkGrains {
					gz.write(zeroChunkZ)
					crc = crc32Combine(crc, zeroChunkCRC, chunkSize)
					total += chunkSize
					n -= chunkGrains
				} else {
					gz.write(zeroGrainZ)
					crc = crc32Combine(crc, zeroGrainCRC, vmdk.GrainSize)
					total += vmdk.GrainSize
					n--
				}
			}
			return gz.err
		})
	if err != nil {
		return fmt.Errorf("writing gzip stream from the vmdk: %w", err)
	}
	gz.write(endZ)
	crc = crc32Combine(crc, crc32.ChecksumIEEE(make([]byte, 1024)), 1024)
	total += 1024
	gz.write(gzipTrailer(crc, total))
	if gz.err == nil {
		gz.err = bw.Flush()
	}
	if gz.err != nil {
		return fmt.Errorf("writing gzip stream: %w", gz.err)
	}
	return nil
}
