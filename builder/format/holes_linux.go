package format

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

const seekData = 3 // SEEK_DATA from <unistd.h>

type fileHoles struct{ f *os.File }

// newHoleFinder returns a SEEK_DATA based finder for files whose file
// system supports it, and nil otherwise (every block is then read).
func newHoleFinder(disk io.ReaderAt) holeFinder {
	f, ok := disk.(*os.File)
	if !ok {
		return nil
	}
	if _, err := f.Seek(0, seekData); err != nil && !errors.Is(err, syscall.ENXIO) {
		return nil // EINVAL: the file system does not report holes
	}
	return fileHoles{f}
}

func (h fileHoles) nextData(off int64) (int64, error) {
	n, err := h.f.Seek(off, seekData)
	if errors.Is(err, syscall.ENXIO) {
		return 1<<63 - 1, nil // only a hole is left
	}
	if err != nil {
		return 0, fmt.Errorf("looking for data in %s after offset %d: %w", h.f.Name(), off, err)
	}
	return n, nil
}
