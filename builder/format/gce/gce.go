// Package gce writes raw disks the way Google Compute Engine imports them:
// a gzip-compressed GNU tar holding one file, disk.raw, whose size is the
// disk's rounded up to a whole GiB (the tail is zeros).
//
// The gzip stream is compressed in 1 MiB chunks on all cores, each ended
// with a sync flush so the chunks concatenate into one valid deflate stream
// (as pigz does); all-zero chunks, most of a fresh disk, reuse one
// precompressed chunk and are never read or compressed. Headers are
// deterministic: the tar entry has mode 0644, uid/gid 0, no user names and
// the given modification time, which is also the gzip header's.
//
// When a streamOptimized VMDK of the same disk has been written by
// vmdk.Encoder, the archive can be made from its compressed grains instead
// (Encoder.VMDK, EncodeFromVMDK): the disk's data is then deflated once for
// both formats.
//
//	enc := gce.Encoder{ModTime: buildTime}
//	err := format.WriteFile(ctx, "out/"+gce.FileName("node"), enc, raw, size)
package gce

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/internal/ordered"
	"github.com/kiln-build/kiln/builder/format/vmdk"
)

const (
	chunkSize = 1 << 20
	gib       = 1 << 30
	// EntryName is the name GCE requires for the disk inside the tar.
	EntryName = "disk.raw"
)

// FileName returns the conventional output name for an image called name.
func FileName(name string) string { return name + "-gce.tar.gz" }

// Encoder writes GCE image tarballs.
type Encoder struct {
	// ModTime is the tar entry's and the gzip header's modification time;
	// the zero value means the Unix epoch.
	ModTime time.Time
	// Level is the deflate level, 1 (fastest) to 9 (smallest); 0 means 6,
	// gzip's default.
	Level int
	// Workers is the number of compressing goroutines; 0 means GOMAXPROCS.
	Workers int
	// VMDK, when set, is a streamOptimized VMDK of the same disk written
	// by vmdk.Encoder; see EncodeFromVMDK.
	VMDK *vmdk.Encoded

	roundTo int64 // tests shrink the GiB rounding to keep archives small
}

// settings are an Encoder's options with the defaults filled in.
type settings struct {
	level, workers int
	mtime          time.Time
	padded         int64 // size of disk.raw
}

func (e Encoder) settings(size int64) (settings, error) {
	if err := format.CheckSize(size); err != nil {
		return settings{}, err
	}
	s := settings{level: e.Level, workers: e.Workers, mtime: e.ModTime, padded: PaddedSize(size)}
	if s.level == 0 {
		s.level = 6
	}
	if s.level < 1 || s.level > 9 {
		return settings{}, fmt.Errorf("gzip level %d: want 1 to 9", s.level)
	}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	if s.mtime.IsZero() {
		s.mtime = time.Unix(0, 0)
	}
	if e.roundTo > 0 {
		s.padded = roundUp(size, e.roundTo)
	}
	return s, nil
}

// PaddedSize returns the size of disk.raw for a raw disk of size bytes.
func PaddedSize(size int64) int64 { return roundUp(size, gib) }

func roundUp(n, unit int64) int64 { return (n + unit - 1) / unit * unit }

type chunk struct {
	raw  *[]byte // nil for an all-zero chunk of chunkSize bytes
	n    int     // uncompressed length
	out  *[]byte // compressed bytes, ending with a sync flush
	crc  uint32
	zero bool
}

// Encode writes the tar.gz of disk to dst. With VMDK set it reads that
// VMDK and calls EncodeFromVMDK.
func (e Encoder) Encode(ctx context.Context, dst io.Writer, disk io.ReaderAt, size int64) error {
	if e.VMDK != nil {
		return e.EncodeFromVMDK(ctx, dst, e.VMDK.Reader(), disk, size)
	}
	s, err := e.settings(size)
	if err != nil {
		return err
	}
	workers, mtime, padded := s.workers, s.mtime, s.padded
	hdr, err := tarHeader(padded, mtime)
	if err != nil {
		return err
	}

	fpool := newDeflaters(s.level)
	bpool := sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}
	deflate := fpool.deflate
	zeroChunk, err := deflate(make([]byte, chunkSize), nil)
	if err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	zeroCRC := crc32.ChecksumIEEE(make([]byte, chunkSize))

	// A zero chunk compresses to about 1 KiB: batch the small writes.
	bw := bufio.NewWriterSize(dst, 1<<20)
	gz := &writer{w: bw}
	gz.write(gzipHeader(mtime))

	// Stream: tar header, disk.raw padded to whole GiB, two zero blocks.
	tail := make([]byte, 1024)
	chunks := padded / chunkSize
	blocks := format.NewBlockReader(disk, size, chunkSize)
	nextData, haveData := int64(-1), true
	var dataBuf *[]byte
	step := int64(-1) // -1 header, 0..chunks-1 disk, chunks trailer

	var crc uint32
	var total int64
	err = ordered.Run(ctx, workers, 4*workers,
		func() (chunk, bool, error) {
			defer func() { step++ }()
			switch {
			case step == -1:
				return chunk{raw: &hdr, n: len(hdr)}, true, nil
			case step == chunks:
				return chunk{raw: &tail, n: len(tail)}, true, nil
			case step > chunks:
				return chunk{}, false, nil
			}
			if haveData && nextData < step {
				dataBuf = bpool.Get().(*[]byte)
				*dataBuf = (*dataBuf)[:chunkSize] // pooled buffers all have this capacity
				i, ok, err := blocks.Next(*dataBuf)
				if err != nil {
					return chunk{}, false, fmt.Errorf("reading disk: %w", err)
				}
				if !ok {
					haveData = false
					bpool.Put(dataBuf)
				}
				nextData = i
			}
			if haveData && nextData == step {
				return chunk{raw: dataBuf, n: chunkSize}, true, nil
			}
			return chunk{n: chunkSize, zero: true}, true, nil
		},
		func(c chunk) (chunk, error) {
			if c.zero {
				return c, nil
			}
			c.crc = crc32.ChecksumIEEE((*c.raw)[:c.n])
			out := bpool.Get().(*[]byte)
			packed, err := deflate((*c.raw)[:c.n], *out)
			if c.n == chunkSize { // a disk chunk: its buffer came from the pool
				bpool.Put(c.raw)
			}
			*out = packed
			c.out = out
			return c, err
		},
		func(c chunk) error {
			if c.zero {
				gz.write(zeroChunk)
				crc = crc32Combine(crc, zeroCRC, chunkSize)
			} else {
				gz.write(*c.out)
				crc = crc32Combine(crc, c.crc, int64(c.n))
				bpool.Put(c.out)
			}
			total += int64(c.n)
			return gz.err
		})
	if err != nil {
		return fmt.Errorf("writing gzip stream: %w", err)
	}
	gz.write(gzipTrailer(crc, total))
	if gz.err == nil {
		gz.err = bw.Flush()
	}
	if gz.err != nil {
		return fmt.Errorf("writing gzip stream: %w", gz.err)
	}
	return nil
}

// deflaters compress pieces of the stream, each ended with a sync flush
// so that the pieces concatenate.
type deflaters struct{ sync.Pool }

func newDeflaters(level int) *deflaters {
	return &deflaters{sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, level) // level is validated
		return w
	}}}
}

// deflate appends the compressed raw to out[:0].
func (d *deflaters) deflate(raw []byte, out []byte) ([]byte, error) {
	fw := d.Get().(*flate.Writer)
	defer d.Put(fw)
	buf := bytes.NewBuffer(out[:0])
	fw.Reset(buf)
	if _, err := fw.Write(raw); err != nil {
		return nil, err
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarHeader returns the GNU tar header block of disk.raw: base-256 sizes
// past 8 GiB, mode 0644, uid and gid 0, no user names.
func tarHeader(padded int64, mtime time.Time) ([]byte, error) {
	var hdr bytes.Buffer
	err := tar.NewWriter(&hdr).WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     EntryName,
		Mode:     0o644,
		Size:     padded,
		ModTime:  mtime.Truncate(time.Second),
		Format:   tar.FormatGNU,
	})
	if err != nil {
		return nil, fmt.Errorf("making tar header: %w", err)
	}
	return hdr.Bytes(), nil
}

// gzipHeader is the RFC 1952 member header: deflate, no flags or extra
// fields, the modification time, Unix.
func gzipHeader(mtime time.Time) []byte {
	h := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}
	binary.LittleEndian.PutUint32(h[4:], uint32(max(mtime.Unix(), 0)))
	return h
}

// gzipTrailer ends a deflate stream made of sync-flushed pieces: an empty
// final block with fixed Huffman codes (BFINAL 1, BTYPE 01, end-of-block
// 0000000: 03 00), then the member's CRC-32 and ISIZE, the length modulo
// 2^32, both little-endian.
func gzipTrailer(crc uint32, total int64) []byte {
	t := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(t[2:], crc)
	binary.LittleEndian.PutUint32(t[6:], uint32(total))
	return t
}

// writer keeps the first write error.
type writer struct {
	w   io.Writer
	err error
}

func (w *writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}
