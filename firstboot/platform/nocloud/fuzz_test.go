package nocloud_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/nocloud"
)

// trimZeros cuts trailing all-zero 512-byte blocks so seeds stay small.
func trimZeros(b []byte) []byte {
	end := len(b)
	for end > 0 {
		start := max(0, (end-1)/512*512)
		if bytes.ContainsFunc(b[start:end], func(r rune) bool { return r != 0 }) {
			break
		}
		end = start
	}
	return b[:end]
}

// isoSystemArea is the 32 KiB of zeros before an ISO 9660 volume's first
// descriptor. Fuzz inputs are also tried behind that much padding, so ISO
// seeds can leave it out and stay small enough to mutate quickly.
const isoSystemArea = 32768

// paddedReader reads b as if pad zero bytes preceded it.
type paddedReader struct {
	pad int64
	b   []byte
}

func (p paddedReader) ReadAt(dst []byte, off int64) (int, error) {
	n := 0
	for n < len(dst) {
		o := off + int64(n)
		switch {
		case o < p.pad:
			dst[n] = 0
		case o-p.pad < int64(len(p.b)):
			dst[n] = p.b[o-p.pad]
		default:
			return n, io.EOF
		}
		n++
	}
	return n, nil
}

// FuzzReadFile throws mutated filesystem images at the readers: they must
// not panic, must respect the size cap, and must fail with an error rather
// than return garbage for a missing file.
func FuzzReadFile(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 40000))
	if _, err := exec.LookPath("genisoimage"); err == nil {
		src := f.TempDir()
		if err := os.WriteFile(filepath.Join(src, "kiln.yaml"), []byte("a: 1\n"), 0o644); err != nil {
			f.Fatal(err)
		}
		for _, args := range [][]string{{"-joliet", "-rock"}, {}} {
			out := filepath.Join(f.TempDir(), "seed.iso")
			cmd := exec.Command("genisoimage", append(append([]string{"-quiet", "-output", out, "-volid", "cidata"}, args...), src)...)
			if err := cmd.Run(); err == nil {
				if b, err := os.ReadFile(out); err == nil {
					f.Add(trimZeros(b[isoSystemArea:]))
				}
			}
		}
	}
	if _, err := exec.LookPath("mkfs.vfat"); err == nil {
		if _, err := exec.LookPath("mcopy"); err == nil {
			dir := f.TempDir()
			out := filepath.Join(dir, "seed.img")
			must(f, os.WriteFile(filepath.Join(dir, "kiln.yaml"), []byte("a: 1\n"), 0o644))
			if exec.Command("mkfs.vfat", "-C", "-n", "cidata", out, "64").Run() == nil {
				cmd := exec.Command("mcopy", "-i", out, filepath.Join(dir, "kiln.yaml"), "::kiln.yaml")
				cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
				if cmd.Run() == nil {
					if b, err := os.ReadFile(out); err == nil {
						f.Add(trimZeros(b))
					}
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		for _, pad := range []int64{0, isoSystemArea} {
			r := paddedReader{pad: pad, b: img}
			size := pad + int64(len(img))
			_, _ = nocloud.VolumeLabel(r, size)
			b, err := nocloud.ReadFile(r, size, "kiln.yaml")
			if err != nil {
				if b != nil {
					t.Fatalf("ReadFile returned %d bytes with error %v", len(b), err)
				}
				continue
			}
			if b == nil {
				t.Fatal("ReadFile returned nil data and nil error")
			}
			if len(b) > platform.MaxMetadataSize {
				t.Fatalf("ReadFile returned %d bytes, over the cap", len(b))
			}
		}
	})
}
