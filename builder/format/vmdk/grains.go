package vmdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A Grain is one compressed grain of an extent, as GrainReader returns it.
type Grain struct {
	// Index is the grain's place on the disk: it holds the bytes from
	// Index*GrainSize on (zeros past the end of the disk).
	Index int64
	// Deflate is the grain's deflate blocks without the zlib framing and
	// without the final block. It ends with a sync flush, on a byte
	// boundary, and refers to no data before it, so the Deflate of
	// consecutive grains concatenate into one deflate stream (which then
	// needs a final block).
	Deflate []byte
	// Adler32 is the zlib checksum of the grain's GrainSize bytes.
	Adler32 uint32
}

// GrainReader reads the grains of a streamOptimized extent that Encoder
// wrote, in file order (increasing Index), without decompressing them. It
// reads sequentially and holds one grain in memory.
type GrainReader struct {
	r     io.Reader
	size  int64
	last  int64 // Index of the previous grain
	buf   []byte
	ended bool
}

// maxGrainBytes bounds a compressed grain: stored blocks cost 5 bytes per
// 64 KiB, so real grains stay far below it.
const maxGrainBytes = 2 * grainSize

// ErrNotConcatenable is returned (wrapped) by GrainReader.Next for a grain
// not framed the way Encoder frames grains, such as one from qemu-img or
// another VMDK writer: its deflate blocks cannot be cut out.
var ErrNotConcatenable = errors.New("grain does not end with a sync flush and an empty final block")

// NewGrainReader reads the extent header from r and returns a reader of
// the grains that follow.
func NewGrainReader(r io.Reader) (*GrainReader, error) {
	h := make([]byte, sector)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, fmt.Errorf("reading vmdk header: %w", err)
	}
	le := binary.LittleEndian
	flags := le.Uint32(h[8:])
	switch {
	case string(h[:4]) != "KDMV" || le.Uint32(h[4:]) != 3:
		return nil, errors.New("not a streamOptimized vmdk (want magic KDMV, version 3)")
	case flags&flagCompressed == 0 || flags&flagMarkers == 0 || le.Uint16(h[77:]) != 1:
		return nil, fmt.Errorf("vmdk flags %#x, compression %d: want deflate-compressed grains with markers", flags, le.Uint16(h[77:]))
	case le.Uint64(h[20:]) != grainSectors:
		return nil, fmt.Errorf("vmdk grains of %d sectors, want %d", le.Uint64(h[20:]), grainSectors)
	}
	capacity, overhead := le.Uint64(h[12:]), le.Uint64(h[64:])
	if capacity == 0 || capacity > 1<<40 {
		return nil, fmt.Errorf("vmdk capacity of %d sectors", capacity)
	}
	if overhead < 1 || overhead > 1<<20 {
		return nil, fmt.Errorf("vmdk grains start at sector %d", overhead)
	}
	// The descriptor and anything else before the first grain.
	if _, err := io.CopyN(io.Discard, r, int64(overhead-1)*sector); err != nil {
		return nil, fmt.Errorf("reading vmdk descriptor: %w", noEOF(err))
	}
	return &GrainReader{r: r, size: int64(capacity) * sector, last: -1, buf: make([]byte, 0, maxGrainBytes+sector)}, nil
}

// Size returns the disk's size in bytes, from the header's capacity.
func (g *GrainReader) Size() int64 { return g.size }

// Next returns the next grain; its Deflate is valid until the next call.
// It returns io.EOF at the end-of-stream marker.
func (g *GrainReader) Next() (Grain, error) {
	if g.ended {
		return Grain{}, io.EOF
	}
	le := binary.LittleEndian
	m := g.buf[:sector]
	for {
		if _, err := io.ReadFull(g.r, m); err != nil {
			return Grain{}, fmt.Errorf("reading vmdk marker: %w", noEOF(err))
		}
		val, size := le.Uint64(m), le.Uint32(m[8:])
		if size != 0 {
			return g.grain(val, size)
		}
		switch typ := le.Uint32(m[12:]); typ {
		case markerEOS:
			g.ended = true
			return Grain{}, io.EOF
		case markerGT, markerGD, markerFooter:
			// val is the number of sectors of metadata that follow.
			if val > 1<<24 {
				return Grain{}, fmt.Errorf("vmdk metadata marker of %d sectors", val)
			}
			if _, err := io.CopyN(io.Discard, g.r, int64(val)*sector); err != nil {
				return Grain{}, fmt.Errorf("reading vmdk metadata: %w", noEOF(err))
			}
		default:
			return Grain{}, fmt.Errorf("vmdk marker of unknown type %d", typ)
		}
	}
}

// grain reads the rest of a grain whose marker is in g.buf[:sector].
func (g *GrainReader) grain(lba uint64, size uint32) (Grain, error) {
	if size > maxGrainBytes {
		return Grain{}, fmt.Errorf("vmdk grain at LBA %d of %d compressed bytes", lba, size)
	}
	if lba%grainSectors != 0 || lba >= uint64(g.size/sector) {
		return Grain{}, fmt.Errorf("vmdk grain at LBA %d: not a grain start within the disk's %d sectors", lba, g.size/sector)
	}
	index := int64(lba / grainSectors)
	if index <= g.last {
		return Grain{}, fmt.Errorf("vmdk grain %d follows grain %d: grains are not in disk order", index, g.last)
	}
	whole := (12 + int(size) + sector - 1) / sector * sector
	b := g.buf[:whole]
	if _, err := io.ReadFull(g.r, b[sector:]); err != nil {
		return Grain{}, fmt.Errorf("reading vmdk grain %d: %w", index, noEOF(err))
	}
	z := b[12 : 12+size]
	// RFC 1950: CM 8 (deflate), a window of at most 32 KiB, no preset
	// dictionary, header check bits; then the deflate stream and the
	// big-endian Adler-32.
	n, tail := len(z), grainTail
	switch {
	case n < 2+len(tail)+4 || z[0]&0x0f != 8 || z[0]>>4 > 7 || (uint16(z[0])<<8|uint16(z[1]))%31 != 0 || z[1]&0x20 != 0:
		return Grain{}, fmt.Errorf("vmdk grain %d: not a zlib stream", index)
	case !bytes.Equal(z[n-4-len(tail):n-4], tail):
		return Grain{}, fmt.Errorf("vmdk grain %d: %w", index, ErrNotConcatenable)
	}
	g.last = index
	return Grain{Index: index, Deflate: z[2 : n-4-len(finalBlock)], Adler32: binary.BigEndian.Uint32(z[n-4:])}, nil
}

// grainTail is how Encoder ends every grain's deflate stream.
var grainTail = append(append([]byte{}, syncFlush...), finalBlock...)

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
