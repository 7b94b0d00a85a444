package format

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
func WriteFile(ctx context.Context, path string, enc Encoder, disk io.ReaderAt, size int64) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := enc.Encode(ctx, tmp, disk, size); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
