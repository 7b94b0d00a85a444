package format

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

// Encoder turns a raw disk image into one output format, writing the result
// to dst in a single sequential pass. disk is read with ReadAt only, so one
// raw disk may feed several encoders at once.
type Encoder interface {
	Encode(ctx context.Context, dst io.Writer, disk io.ReaderAt, size int64) error
}

// SectorSize is the unit every disk size must be a multiple of.
const SectorSize = 512

// ErrSize is returned (wrapped) for a disk size no format can represent.
var ErrSize = errors.New("disk size must be a positive multiple of 512 bytes")

// CheckSize reports whether size is a usable raw disk size.
func CheckSize(size int64) error {
	if size <= 0 || size%SectorSize != 0 {
		return fmt.Errorf("disk size %d: %w", size, ErrSize)
	}
	return nil
}

// WriteFile encodes disk into path atomically: the output goes to a temp
// file in the same directory, which is synced and renamed over path only
// when the encoder succeeded. On failure no file is left behind.
func WriteFile(ctx context.Context, path string, enc Encoder, disk io.ReaderAt, size int64) error {
	_, _, err := WriteFileSum(ctx, path, enc, disk, size)
	return err
}

// WriteFileSum is WriteFile that also returns the written file's sha256
// (hex) and size, computed on the way out instead of by reading it again.
func WriteFileSum(ctx context.Context, path string, enc Encoder, disk io.ReaderAt, size int64) (sum string, n int64, err error) {
	f, err := atomicfile.Create(path, atomicfile.Options{Mode: 0o644})
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := &hashCounter{h: sha256.New()}
	if err := enc.Encode(ctx, io.MultiWriter(f, h), disk, size); err != nil {
		return "", 0, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.h.Sum(nil)), h.n, nil
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}
