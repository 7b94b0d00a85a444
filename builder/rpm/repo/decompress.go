package repo

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ErrTooLarge is returned when decompressed metadata exceeds its bound:
// the open-size repomd.xml gives, or Options.MaxMetadataSize.
var ErrTooLarge = errors.New("metadata larger than allowed")

const (
	// maxXZDict and maxZstdWindow bound the decoder memory a hostile
	// stream can ask for. createrepo_c's defaults use 8 MiB.
	maxXZDict     = 64 << 20
	maxZstdWindow = 64 << 20
)

// decompress returns the decompressed content of r. The format is
// detected from its first bytes (gzip, xz, zstd, bzip2), falling back to
// name's extension; data that starts like XML is read as is. Reading more
// than limit decompressed bytes fails with ErrTooLarge.
func decompress(r io.Reader, name string, limit int64) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(32)
	format := sniff(head)
	if format == "" {
		switch path.Ext(name) {
		case ".gz", ".xz", ".zst", ".bz2":
			return nil, fmt.Errorf("decompressing %s: content is not %s data", name, path.Ext(name)[1:])
		}
		format = "none"
	}
	var (
		dr    io.Reader
		close func()
	)
	switch format {
	case "gz":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", name, err)
		}
		dr, close = zr, func() { zr.Close() }
	case "xz":
		if d := xzDictSize(head); d > maxXZDict {
			return nil, fmt.Errorf("decompressing %s: xz dictionary of %d bytes exceeds %d", name, d, maxXZDict)
		}
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", name, err)
		}
		dr = zr
	case "zst":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", name, err)
		}
		dr, close = zr, zr.Close
	case "bz2":
		dr = bzip2.NewReader(br)
	default:
		dr = br
	}
	b := &boundedReader{r: dr, left: limit, name: name, close: close}
	if format == "none" {
		return b, nil
	}
	// Decompress on another core, ahead of the parser.
	return &asyncCloser{newAsyncReader(b), b}, nil
}

type asyncCloser struct {
	*asyncReader
	src io.Closer
}

// Close stops the goroutine before closing the decoder it reads from.
func (a *asyncCloser) Close() error {
	a.asyncReader.Close()
	return a.src.Close()
}

// sniff names the compression from magic bytes, or "" when unknown.
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gz"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zst"
	case bytes.HasPrefix(head, []byte("BZh")) && len(head) > 3 && head[3] >= '1' && head[3] <= '9':
		return "bz2"
	}
	t := bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	if len(t) > 0 && t[0] == '<' {
		return "none"
	}
	return ""
}

// xzDictSize reads the LZMA2 dictionary size from the first block header
// of an xz stream, or returns 0 when it cannot tell.
func xzDictSize(head []byte) int64 {
	// Stream header (12 bytes), then the block header: size byte, flags,
	// optional compressed and uncompressed sizes, then filter flags.
	if len(head) < 14 || head[12] == 0 {
		return 0
	}
	b := head[13:]
	flags := b[0]
	b = b[1:]
	skipVarint := func() bool {
		for i := 0; i < len(b) && i < 9; i++ {
			if b[i]&0x80 == 0 {
				b = b[i+1:]
				return true
			}
		}
		return false
	}
	if flags&0x40 != 0 && !skipVarint() {
		return 0
	}
	if flags&0x80 != 0 && !skipVarint() {
		return 0
	}
	// Only a single LZMA2 filter (id 0x21, one property byte) is checked.
	if len(b) < 3 || b[0] != 0x21 || b[1] != 1 {
		return 0
	}
	p := b[2]
	if p > 40 {
		return 1 << 62 // invalid; larger than any limit
	}
	if p == 40 {
		return 1<<32 - 1
	}
	return int64(2|p&1) << (p/2 + 11)
}

type boundedReader struct {
	r     io.Reader
	left  int64
	name  string
	close func()
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe: the stream may end exactly at the bound.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("decompressing %s: %w", b.name, ErrTooLarge)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decompressing %s: %w", b.name, err)
	}
	return n, err
}

func (b *boundedReader) Close() error {
	if b.close != nil {
		b.close()
	}
	return nil
}
