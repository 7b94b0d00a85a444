package format

import (
	"bytes"
	"fmt"
	"io"
)

// zeroes is compared against with bytes.Equal, which runs at memory speed.
var zeroes = make([]byte, 1<<20)

// IsZero reports whether every byte of b is zero.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroes))
		if !bytes.Equal(b[:n], zeroes[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// BlockReader walks a disk in fixed-size blocks and returns, in increasing
// order, only the blocks that hold a non-zero byte. When the disk is an
// *os.File on a file system that reports holes (SEEK_DATA), holes are
// skipped without being read, so a mostly empty sparse image costs only its
// data. It is not safe for concurrent use; the disk itself is only read
// with ReadAt (and, for files, lseek with SEEK_DATA, which leaves ReadAt
// callers unaffected).
type BlockReader struct {
	disk      io.ReaderAt
	size      int64
	blockSize int64
	next      int64 // first block not yet looked at
	end       int64 // block to stop at
	holes     holeFinder
}

// NewBlockReader returns a reader of disk's non-zero blocks of blockSize
// bytes. The last block may extend past size; its tail reads as zeros.
func NewBlockReader(disk io.ReaderAt, size, blockSize int64) *BlockReader {
	r := &BlockReader{disk: disk, size: size, blockSize: blockSize, holes: newHoleFinder(disk)}
	r.end = r.Blocks()
	return r
}

// Limit makes the reader return only blocks in [first, end), so several
// readers can scan parts of one disk in parallel.
func (r *BlockReader) Limit(first, end int64) {
	r.next, r.end = max(first, 0), min(end, r.Blocks())
}

// Blocks returns the number of blocks the disk spans.
func (r *BlockReader) Blocks() int64 { return (r.size + r.blockSize - 1) / r.blockSize }

// Next reads the next block holding data into buf (len(buf) must be the
// block size) and returns its index. ok is false at the end of the disk.
func (r *BlockReader) Next(buf []byte) (index int64, ok bool, err error) {
	if int64(len(buf)) != r.blockSize {
		return 0, false, fmt.Errorf("block buffer is %d bytes, want %d", len(buf), r.blockSize)
	}
	blocks := r.end
	for r.next < blocks {
		off := r.next * r.blockSize
		if r.holes != nil {
			data, err := r.holes.nextData(off)
			if err != nil {
				return 0, false, err
			}
			if data >= min(r.size, blocks*r.blockSize) {
				r.next = blocks
				break
			}
			if data > off {
				r.next = data / r.blockSize
				off = r.next * r.blockSize
			}
		}
		i := r.next
		r.next++
		if err := ReadBlock(r.disk, r.size, off, buf); err != nil {
			return 0, false, err
		}
		if !IsZero(buf) {
			return i, true, nil
		}
	}
	return 0, false, nil
}

// ReadBlock fills buf with the disk's bytes at off, reading zeros past size.
func ReadBlock(disk io.ReaderAt, size, off int64, buf []byte) error {
	n := len(buf)
	if rest := size - off; rest < int64(n) {
		n = int(max(rest, 0))
		clear(buf[n:])
	}
	if n == 0 {
		return nil
	}
	if _, err := disk.ReadAt(buf[:n], off); err != nil {
		return fmt.Errorf("reading disk at offset %d: %w", off, err)
	}
	return nil
}

// holeFinder locates the next byte that may hold data at or after off;
// it returns a value >= the file's end when only holes remain.
type holeFinder interface {
	nextData(off int64) (int64, error)
}
