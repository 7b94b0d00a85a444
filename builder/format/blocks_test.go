package format_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
)

// denseBlocks lists the non-zero blocks by brute force.
func denseBlocks(t *testing.T, raw []byte, bs int) []int64 {
	var want []int64
	for i := 0; i*bs < len(raw); i++ {
		end := min((i+1)*bs, len(raw))
		if !format.IsZero(raw[i*bs : end]) {
			want = append(want, int64(i))
		}
	}
	return want
}

func TestBlockReaderFindsEveryDataBlock(t *testing.T) {
	path := formattest.WriteDisk(t, t.TempDir(), formattest.Disk{Size: 32<<20 + 512, Data: 3 << 20, Seed: 7})
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, bs := range []int{4096, 64 << 10, 1 << 20} {
		want := denseBlocks(t, raw, bs)
		// The *os.File path uses SEEK_DATA; the bytes.Reader path reads all.
		for name, disk := range map[string]io.ReaderAt{"file": f, "memory": bytes.NewReader(raw)} {
			r := format.NewBlockReader(disk, int64(len(raw)), int64(bs))
			buf := make([]byte, bs)
			var got []int64
			for {
				i, ok, err := r.Next(buf)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				off := i * int64(bs)
				end := min(off+int64(bs), int64(len(raw)))
				if !bytes.Equal(buf[:end-off], raw[off:end]) || !format.IsZero(buf[end-off:]) {
					t.Fatalf("%s bs=%d: block %d contents differ from the disk", name, bs, i)
				}
				got = append(got, i)
			}
			if len(got) != len(want) {
				t.Fatalf("%s bs=%d: %d data blocks, want %d", name, bs, len(got), len(want))
			}
			for k := range got {
				if got[k] != want[k] {
					t.Fatalf("%s bs=%d: data block %d = %d, want %d", name, bs, k, got[k], want[k])
				}
			}
		}
	}
}

type fakeEncoder struct{ fail bool }

func (e fakeEncoder) Encode(_ context.Context, dst io.Writer, _ io.ReaderAt, _ int64) error {
	if _, err := dst.Write([]byte("partial")); err != nil {
		return err
	}
	if e.fail {
		return errors.New("encoder failed")
	}
	return nil
}

func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.img")
	if err := format.WriteFile(context.Background(), path, fakeEncoder{fail: true}, nil, 512); err == nil {
		t.Fatal("WriteFile with a failing encoder returned nil")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("failed WriteFile left %d files, want none", len(ents))
	}
	if err := format.WriteFile(context.Background(), path, fakeEncoder{}, nil, 512); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "partial" {
		t.Fatalf("ReadFile = %q, %v; want \"partial\"", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("WriteFile left %d files, want 1", len(ents))
	}
}

func TestCheckSize(t *testing.T) {
	for _, tc := range []struct {
		size int64
		ok   bool
	}{{512, true}, {1 << 30, true}, {0, false}, {-512, false}, {1000, false}} {
		err := format.CheckSize(tc.size)
		if (err == nil) != tc.ok {
			t.Errorf("CheckSize(%d) = %v, want ok=%v", tc.size, err, tc.ok)
		}
		if err != nil && !errors.Is(err, format.ErrSize) {
			t.Errorf("CheckSize(%d) = %v, want ErrSize", tc.size, err)
		}
	}
}
