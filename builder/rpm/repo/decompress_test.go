package repo

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func compressWith(t *testing.T, format string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch format {
	case "gz":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zst":
		w, err = zstd.NewWriter(&buf)
	case "garbage":
		return append([]byte("garbage"), data...)
	default:
		return data
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := []byte("<metadata>" + strings.Repeat("<package/>", 1000) + "</metadata>")
	for _, tc := range []struct {
		name, format, file string
		limit              int64
		wantErr            string
		wantTooLarge       bool
	}{
		{"gzip", "gz", "primary.xml.gz", 1 << 20, "", false},
		{"xz", "xz", "primary.xml.xz", 1 << 20, "", false},
		{"zstd", "zst", "primary.xml.zst", 1 << 20, "", false},
		{"plain", "none", "primary.xml", 1 << 20, "", false},
		{"magic wins over the name", "zst", "primary.xml.gz", 1 << 20, "", false},
		{"exact limit", "gz", "p.gz", int64(len(plain)), "", false},
		{"one byte over", "gz", "p.gz", int64(len(plain)) - 1, "", true},
		{"bomb", "xz", "p.xz", 100, "", true},
		{"plain over limit", "none", "p.xml", 100, "", true},
		{"neither compressed nor XML", "garbage", "p.xml.gz", 1 << 20, "not gz data", false},
		{"plain XML under a compressed name", "none", "p.xml.gz", 1 << 20, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := decompress(bytes.NewReader(compressWith(t, tc.format, plain)), tc.file, tc.limit)
			if err == nil {
				var got []byte
				got, err = io.ReadAll(rc)
				rc.Close()
				if err == nil && !bytes.Equal(got, plain) {
					t.Fatalf("decompressed %d bytes, want the original %d", len(got), len(plain))
				}
			}
			switch {
			case tc.wantTooLarge:
				if !errors.Is(err, ErrTooLarge) {
					t.Errorf("error %v, want ErrTooLarge", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

func TestDecompressRefusesHugeXZDictionary(t *testing.T) {
	data := compressWith(t, "xz", []byte("<x/>"))
	if d := xzDictSize(data); d != 8<<20 {
		t.Fatalf("xzDictSize of a default stream = %d, want 8 MiB", d)
	}
	// Block header: size, flags (no optional sizes), filter id 0x21,
	// property size 1, then the dictionary property byte.
	if data[13] != 0 || data[14] != 0x21 || data[15] != 1 {
		t.Fatalf("unexpected xz block header % x", data[12:20])
	}
	data[16] = 38 // 3 GiB
	if _, err := decompress(bytes.NewReader(data), "p.xz", 1<<20); err == nil || !strings.Contains(err.Error(), "dictionary") {
		t.Errorf("error %v, want a refused dictionary", err)
	}
}

// TestAsyncReaderClose stops a reader mid-stream without leaking its
// goroutine or deadlocking.
func TestAsyncReaderClose(t *testing.T) {
	a := newAsyncReader(io.LimitReader(zeros{}, 10<<20))
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(a, buf); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
