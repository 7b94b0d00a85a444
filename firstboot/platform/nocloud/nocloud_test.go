package nocloud_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/nocloud"
)

var _ platform.Platform = (*nocloud.Platform)(nil)

func readImage(t *testing.T, path string) ([]byte, *bytes.Reader) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, bytes.NewReader(b)
}

// TestImages builds real ISO 9660 and FAT images with the reference tools
// and checks ReadFile returns kiln.yaml byte for byte and VolumeLabel the
// label blkid reports.
func TestImages(t *testing.T) {
	for _, img := range append(isoImages(), fatImages()...) {
		t.Run(img.name, func(t *testing.T) {
			src := srcDir(t, img.extra)
			out := filepath.Join(t.TempDir(), "seed.img")
			img.build(t, src, out)
			b, r := readImage(t, out)

			got, err := nocloud.ReadFile(r, int64(len(b)), "kiln.yaml")
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if want := golden(t); !bytes.Equal(got, want) {
				t.Errorf("ReadFile = %q, want %q", got, want)
			}
			label, err := nocloud.VolumeLabel(r, int64(len(b)))
			if err != nil || label != img.label {
				t.Errorf("VolumeLabel = %q, %v; want %q", label, err, img.label)
			}
			if _, err := exec.LookPath("blkid"); err == nil {
				out, err := exec.Command("blkid", "-o", "value", "-s", "LABEL", out).Output()
				if err != nil || strings.TrimSpace(string(out)) != label {
					t.Errorf("blkid says label %q (%v), VolumeLabel says %q", out, err, label)
				}
			}
			for name, want := range img.extra {
				got, err := nocloud.ReadFile(r, int64(len(b)), name)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("ReadFile(%q) = %q, %v; want %q", name, got, err, want)
				}
			}
			if _, err := nocloud.ReadFile(r, int64(len(b)), "user-data"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadFile(user-data) error %v, want fs.ErrNotExist", err)
			}
		})
	}
}

// TestBigFile reads metadata spanning many sectors and clusters.
func TestBigFile(t *testing.T) {
	big := bigMetadata()
	for _, img := range append(isoImages()[:1], fatImages()...) {
		t.Run(img.name, func(t *testing.T) {
			src := srcDir(t, nil)
			must(t, os.WriteFile(filepath.Join(src, "kiln.yaml"), big, 0o644))
			out := filepath.Join(t.TempDir(), "seed.img")
			img.build(t, src, out)
			b, r := readImage(t, out)
			got, err := nocloud.ReadFile(r, int64(len(b)), "kiln.yaml")
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("ReadFile = %d bytes, %v; want the %d byte file", len(got), err, len(big))
			}
		})
	}
}

// TestFATChainLoop corrupts a real FAT12 image so kiln.yaml's chain loops
// back on itself: the reader must stop with an error.
func TestFATChainLoop(t *testing.T) {
	src := srcDir(t, nil)
	must(t, os.WriteFile(filepath.Join(src, "kiln.yaml"), bigMetadata(), 0o644))
	out := filepath.Join(t.TempDir(), "seed.img")
	fatImages()[0].build(t, src, out)
	b, _ := readImage(t, out)
	// FAT12 from mkfs.vfat -C ... 1440: 1 reserved sector, FAT at byte 512.
	// kiln.yaml is the only file, so its first cluster is 2; make 2 -> 2.
	fat := b[512:]
	fat[3] = 0x02 // entry 2 low byte (entries 2 and 3 share bytes 3..5)
	fat[4] = fat[4]&0xF0 | 0x00
	_, err := nocloud.ReadFile(bytes.NewReader(b), int64(len(b)), "kiln.yaml")
	if err == nil || !strings.Contains(err.Error(), "chain") {
		t.Fatalf("ReadFile on a looping chain: %v, want a chain error", err)
	}
}

func TestReadFileLimits(t *testing.T) {
	if _, err := nocloud.ReadFile(bytes.NewReader(make([]byte, 1<<16)), 1<<16, "kiln.yaml"); !errors.Is(err, nocloud.ErrUnknownFilesystem) {
		t.Errorf("zeros: %v, want ErrUnknownFilesystem", err)
	}
	src := srcDir(t, nil)
	must(t, os.WriteFile(filepath.Join(src, "kiln.yaml"), bytes.Repeat([]byte("#\n"), platform.MaxMetadataSize/2+1), 0o644))
	out := filepath.Join(t.TempDir(), "seed.img")
	isoImages()[0].build(t, src, out)
	b, r := readImage(t, out)
	var bad *platform.BadMetadataError
	if _, err := nocloud.ReadFile(r, int64(len(b)), "kiln.yaml"); !errors.As(err, &bad) {
		t.Errorf("oversized kiln.yaml: %v, want BadMetadataError", err)
	}
	// The same image cut short: the file's extent is past the end.
	if _, err := nocloud.ReadFile(bytes.NewReader(b[:len(b)/2]), int64(len(b)/2), "kiln.yaml"); err == nil {
		t.Error("truncated image read without error")
	}
}

// fakeTree lays out root/dev and root/sys/class/block for the platform.
type fakeTree struct {
	t    *testing.T
	root string
}

func (f fakeTree) device(name string, content []byte) {
	must(f.t, os.MkdirAll(filepath.Join(f.root, "dev"), 0o755))
	must(f.t, os.WriteFile(filepath.Join(f.root, "dev", name), content, 0o644))
	sys := filepath.Join(f.root, "sys/class/block", name)
	must(f.t, os.MkdirAll(sys, 0o755))
	must(f.t, os.WriteFile(filepath.Join(sys, "size"), []byte(strconv.Itoa(len(content)/512)+"\n"), 0o644))
}

func (f fakeTree) link(label, target string) {
	dir := filepath.Join(f.root, "dev/disk/by-label")
	must(f.t, os.MkdirAll(dir, 0o755))
	must(f.t, os.Symlink(target, filepath.Join(dir, label)))
}

func buildImage(t *testing.T, img image, extra map[string][]byte, drop bool) []byte {
	t.Helper()
	src := srcDir(t, extra)
	if drop {
		must(t, os.Remove(filepath.Join(src, "kiln.yaml")))
		must(t, os.WriteFile(filepath.Join(src, "user-data"), []byte("#cloud-config\n"), 0o644))
	}
	out := filepath.Join(t.TempDir(), "seed.img")
	img.build(t, src, out)
	b, err := os.ReadFile(out)
	must(t, err)
	return b
}

func TestPlatform(t *testing.T) {
	ctx := context.Background()
	iso := buildImage(t, isoImages()[0], nil, false)
	fat := buildImage(t, fatImages()[0], nil, false)
	noKiln := buildImage(t, isoImages()[0], nil, true)
	junk := bytes.Repeat([]byte("not a filesystem "), 4096)
	want := golden(t)

	tests := []struct {
		name   string
		setup  func(f fakeTree)
		want   []byte
		noMeta bool
	}{
		{"by-label relative link", func(f fakeTree) {
			f.device("sr0", iso)
			f.link("cidata", "../../sr0")
		}, want, false},
		{"by-label absolute link", func(f fakeTree) {
			f.device("vdb", fat)
			f.link("CIDATA", "/dev/vdb")
		}, want, false},
		{"scan block devices", func(f fakeTree) {
			f.device("sda", junk)
			f.device("sdb", make([]byte, 0))
			f.device("vdb", fat)
		}, want, false},
		{"loop devices ignored", func(f fakeTree) {
			f.device("loop0", iso)
		}, nil, true},
		{"cidata without kiln.yaml", func(f fakeTree) {
			f.device("sr0", noKiln)
		}, nil, true},
		{"no block devices at all", func(f fakeTree) {}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeTree{t: t, root: t.TempDir()}
			tt.setup(f)
			p := nocloud.New(nocloud.Options{Root: f.root})
			got, err := p.Metadata(ctx)
			if tt.noMeta {
				if !errors.Is(err, platform.ErrNoMetadata) {
					t.Fatalf("Metadata = %q, %v; want ErrNoMetadata", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("Metadata = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
