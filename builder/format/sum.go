package format

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// Sum returns the sha256 (hex) of a raw disk of size bytes. Holes of a
// sparse file are not read: zeros are hashed from memory, which for a
// mostly empty multi-GiB disk saves most of the time reading it takes.
func Sum(disk io.ReaderAt, size int64) (string, error) {
	const block = 1 << 20
	h := sha256.New()
	zeros := make([]byte, block)
	buf := make([]byte, block)
	r := NewBlockReader(disk, size, block)
	var done int64 // bytes hashed so far
	for {
		i, ok, err := r.Next(buf)
		if err != nil {
			return "", err
		}
		end := size
		if ok {
			end = i * block
		}
		for done < end {
			n := min(end-done, block)
			h.Write(zeros[:n])
			done += n
		}
		if !ok {
			break
		}
		n := min(size-done, block)
		h.Write(buf[:n])
		done += n
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
