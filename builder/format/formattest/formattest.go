// Package formattest is the test kit of kiln's disk image writers: it makes
// sparse raw disks with realistic contents (text, program binaries,
// incompressible data, zero runs) and checks for the reference tools the
// tests compare against.
//
//	raw := formattest.WriteDisk(t, t.TempDir(), formattest.Disk{Size: 64 << 20, Data: 8 << 20, Seed: 1})
package formattest

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/reftest"
)

// Disk describes a synthetic raw disk.
type Disk struct {
	Size int64  // apparent size in bytes (a multiple of 512)
	Data int64  // about this many bytes are written; the rest stays a hole
	Seed uint64 // contents and placement are a function of the seed
	// Binaries mixes in the programs of /usr/bin (sorted by name), for
	// benchmarks; tests leave it off so their disks are the same everywhere.
	Binaries bool
}

// WriteDisk writes the disk as a sparse file named disk.raw under dir and
// returns its path. Besides scattered extents, the first and last sectors
// always hold data, and extents start and end off grain boundaries.
func WriteDisk(tb testing.TB, dir string, d Disk) string {
	tb.Helper()
	path := filepath.Join(dir, "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(d.Size); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(d.Seed, d.Seed^0x9e3779b97f4a7c15))
	src := newContent(rng, d.Binaries)

	write := func(off int64, n int) {
		if off+int64(n) > d.Size {
			n = int(d.Size - off)
		}
		if _, err := f.WriteAt(src.next(n), off); err != nil {
			tb.Fatal(err)
		}
	}
	write(0, 34*512)       // where a GPT would be
	write(d.Size-512, 512) // and its backup header
	written := int64(34*512 + 512)
	for written < d.Data {
		n := 4096 + rng.IntN(4<<20)
		n = int(min(int64(n), d.Data-written+4096))
		off := rng.Int64N(d.Size/512) * 512
		write(off, n)
		written += int64(n)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// content hands out a deterministic mix of text, binaries, random bytes
// and zero runs.
type content struct {
	rng  *rand.Rand
	bins []string
	bin  []byte
	buf  []byte
}

func newContent(rng *rand.Rand, binaries bool) *content {
	c := &content{rng: rng}
	if binaries {
		ents, _ := os.ReadDir("/usr/bin")
		for _, e := range ents {
			if e.Type().IsRegular() {
				c.bins = append(c.bins, filepath.Join("/usr/bin", e.Name()))
			}
		}
		sort.Strings(c.bins)
	}
	return c
}

var words = strings.Fields(`the kubelet node cluster control plane etcd apiserver
	scheduler container runtime image layer pod service endpoint
	config map secret volume mount path systemd unit journal kernel module
	package version release architecture noarch x86_64 el9 repository mirror
	checksum sha256 signature key error warning info debug 0 1 2 42 1024 65536`)

func (c *content) next(n int) []byte {
	c.buf = c.buf[:0]
	for len(c.buf) < n {
		k := min(n-len(c.buf), 64<<10+c.rng.IntN(256<<10))
		switch r := c.rng.IntN(10); {
		case r < 4: // text
			for k > 0 {
				w := words[c.rng.IntN(len(words))]
				sep := " "
				if c.rng.IntN(12) == 0 {
					sep = "\n"
				}
				s := w + sep
				if len(s) > k {
					s = s[:k]
				}
				c.buf = append(c.buf, s...)
				k -= len(s)
			}
		case r < 8: // program code
			if len(c.bins) > 0 {
				for len(c.bin) < k && len(c.bins) > 0 {
					b, err := os.ReadFile(c.bins[0])
					c.bins = c.bins[1:]
					if err == nil {
						c.bin = append(c.bin, b...)
					}
				}
			}
			if len(c.bin) >= k {
				c.buf = append(c.buf, c.bin[:k]...)
				c.bin = c.bin[k:]
				break
			}
			// No binaries: something with the statistics of machine code.
			for range k {
				b := byte(c.rng.IntN(16))
				if c.rng.IntN(4) == 0 {
					b = byte(c.rng.Uint32())
				}
				c.buf = append(c.buf, b)
			}
		case r < 9: // compressed payloads
			for range k {
				c.buf = append(c.buf, byte(c.rng.Uint32()))
			}
		default: // zero runs inside allocated space
			c.buf = append(c.buf, make([]byte, k)...)
		}
	}
	return c.buf[:n]
}

// RequireTool returns the path of a reference tool. When it is missing the
// test is skipped, unless the CI environment variable is set: CI installs
// every tool, so there a missing one is a failure.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	return reftest.Tool(tb, name)
}

// BenchDisk returns a 2 GiB sparse raw disk holding about 400 MB of mixed
// data (text, the programs of /usr/bin, incompressible runs, zeros), for
// benchmarks. It is made once and kept in the system temp directory, so
// every package's benchmarks in a run convert the same disk.
func BenchDisk(tb testing.TB) (path string, size int64) {
	tb.Helper()
	d := Disk{Size: 2 << 30, Data: 400 << 20, Seed: 2025, Binaries: true}
	dir := filepath.Join(os.TempDir(), "kiln-bench-disk-v1")
	path = filepath.Join(dir, "disk.raw")
	if fi, err := os.Stat(path); err == nil && fi.Size() == d.Size {
		return path, d.Size
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(dir, "tmp-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Rename(WriteDisk(tb, tmp, d), path); err != nil {
		tb.Fatal(err)
	}
	return path, d.Size
}

// RunTool runs a reference tool for a benchmark, failing on error.
func RunTool(tb testing.TB, name string, args ...string) {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// ReportOutput records the output file's size and its ratio to the disk.
func ReportOutput(b *testing.B, path string, diskSize int64) {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/1e6, "out-MB")
	b.ReportMetric(float64(fi.Size())/float64(diskSize)*100, "out-%")
}

// BenchEncode times enc writing BenchDisk to a file named name in a
// temporary directory and reports the output as ReportOutput does.
func BenchEncode(b *testing.B, enc format.Encoder, name string) {
	b.Helper()
	raw, size := BenchDisk(b)
	f, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(b.TempDir(), name)
	b.SetBytes(size)
	for b.Loop() {
		if err := format.WriteFile(context.Background(), out, enc, f, size); err != nil {
			b.Fatal(err)
		}
	}
	ReportOutput(b, out, size)
}
