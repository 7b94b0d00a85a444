package vmware_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/vmware"
)

// TestDecodeGolden runs every case under testdata/decode (see
// testdata/README.md for how each was made).
func TestDecodeGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/decode/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			value := readFile(t, filepath.Join(dir, "value"))
			enc := readFile(t, filepath.Join(dir, "encoding"))
			got, err := vmware.Decode(string(value), string(enc))
			if wantErr, e := os.ReadFile(filepath.Join(dir, "want.err")); e == nil {
				if err == nil || err.Error() != string(wantErr) {
					t.Fatalf("Decode = %q, %v; want error %q", got, err, wantErr)
				}
				var bad *platform.BadMetadataError
				if !errors.As(err, &bad) {
					t.Errorf("error %v is not a *platform.BadMetadataError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := readFile(t, filepath.Join(dir, "want")); !bytes.Equal(got, want) {
				t.Errorf("Decode = %q, want %q", got, want)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBase64(t testing.TB, b []byte) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestDecodeLimits(t *testing.T) {
	// A gzip bomb: 8 MiB of zeros compresses to a few KiB.
	bomb := gzipBase64(t, make([]byte, 8<<20))
	if len(bomb) > vmware.MaxValueSize {
		t.Fatalf("bomb fixture is %d bytes, too big to test the decompression cap", len(bomb))
	}
	_, err := vmware.Decode(bomb, "gzip+base64")
	if err == nil || !strings.Contains(err.Error(), "over the 1048576 byte limit") {
		t.Errorf("gzip bomb: error %v, want the decompression cap", err)
	}
	// Exactly at the cap is fine.
	at := gzipBase64(t, bytes.Repeat([]byte("a"), platform.MaxMetadataSize))
	if got, err := vmware.Decode(at, "gzip+base64"); err != nil || len(got) != platform.MaxMetadataSize {
		t.Errorf("metadata at the cap: %d bytes, %v", len(got), err)
	}
	// Raw values over the limit are refused before any decoding.
	big := strings.Repeat("A", vmware.MaxValueSize+4)
	for _, enc := range []string{"", "base64"} {
		if _, err := vmware.Decode(big, enc); err == nil {
			t.Errorf("Decode(%d byte value, %q) succeeded, want the size limit", len(big), enc)
		}
	}
}

func TestNormalizeEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "  ": "", "base64": "base64", "B64": "base64",
		"gzip+base64": "gzip+base64", "gz+b64": "gzip+base64", "Gzip+B64\n": "gzip+base64",
	} {
		if got, err := vmware.NormalizeEncoding(in); err != nil || got != want {
			t.Errorf("NormalizeEncoding(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := vmware.NormalizeEncoding("yaml"); err == nil {
		t.Error(`NormalizeEncoding("yaml") succeeded`)
	}
}

// FuzzDecode feeds arbitrary values through every encoding: Decode must
// never panic, never return more than MaxMetadataSize bytes, and fail only
// with a *platform.BadMetadataError.
func FuzzDecode(f *testing.F) {
	md := []byte("apiVersion: kiln/v1\nkind: NodeConfig\n")
	f.Add(string(md), "")
	f.Add(base64.StdEncoding.EncodeToString(md), "base64")
	f.Add(gzipBase64(f, md), "gzip+base64")
	f.Add(gzipBase64(f, make([]byte, 2<<20)), "gz+b64")
	f.Add("H4sIAAAAAAAA", "gzip+base64")
	f.Add("====", "b64")
	f.Fuzz(func(t *testing.T, value, enc string) {
		out, err := vmware.Decode(value, enc)
		if err != nil {
			var bad *platform.BadMetadataError
			if !errors.As(err, &bad) {
				t.Fatalf("Decode error %v is not a *platform.BadMetadataError", err)
			}
			return
		}
		if len(out) > platform.MaxMetadataSize {
			t.Fatalf("Decode returned %d bytes, over MaxMetadataSize", len(out))
		}
	})
}
