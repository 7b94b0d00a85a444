package disk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

// benchTreeMiB is the size of the generated root tree; KILN_BENCH_TREE_MIB
// overrides it.
func benchTreeMiB() int {
	if v, err := strconv.Atoi(os.Getenv("KILN_BENCH_TREE_MIB")); err == nil && v > 0 {
		return v
	}
	return 1536
}

// makeBenchTree writes a tree shaped a little like an OS: many small files
// and some large ones, totalling about mib MiB of non-zero data (mke2fs
// skips zero blocks, so zeros would flatter both sides).
func makeBenchTree(b *testing.B, mib int) (string, int64) {
	b.Helper()
	dir := b.TempDir()
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*31 + 7)
	}
	var total int64
	target := int64(mib) << 20
	for i := 0; total < target; i++ {
		sub := filepath.Join(dir, "usr", fmt.Sprintf("d%03d", i%200))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		// Four small files for every large one.
		size := int64(4<<10 + i%13*1000)
		if i%5 == 0 {
			size = int64(1<<20 + i%7*(256<<10))
		}
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("f%06d", i)))
		if err != nil {
			b.Fatal(err)
		}
		for left := size; left > 0; {
			n := min(left, int64(len(block)))
			block[0] = byte(i) // no two files alike
			if _, err := f.Write(block[:n]); err != nil {
				b.Fatal(err)
			}
			left -= n
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		total += size
	}
	return dir, total
}

// BenchmarkDisk writes a ~1.5 GiB tree into a 4 GiB disk with Write
// ("kiln") and with the equivalent standard tools ("tools": truncate,
// sgdisk, mkfs.vfat + mcopy, mke2fs -d, dd conv=sparse), one line each.
func BenchmarkDisk(b *testing.B) {
	for _, tool := range []string{"mke2fs", "sgdisk", "mkfs.vfat", "mcopy", "dd", "truncate"} {
		reftest.Tool(b, tool)
	}
	tree, size := makeBenchTree(b, benchTreeMiB())
	espDir := b.TempDir()
	for name, data := range testESP {
		p := filepath.Join(espDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data.Data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	l, err := Plan(Options{Size: 4 << 30, Seed: "bench", Time: time.Unix(1700000000, 0)})
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()

	b.Run("kiln", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			img := filepath.Join(out, "kiln.raw")
			if err := Write(context.Background(), img, l, Contents{RootTree: tree, ESP: os.DirFS(espDir)}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			reportAllocated(b, img)
			os.Remove(img)
			b.StartTimer()
		}
	})

	b.Run("tools", func(b *testing.B) {
		b.SetBytes(size)
		esp, root := l.ESPPartition(), l.RootPartition()
		for range b.N {
			img := filepath.Join(out, "tools.raw")
			espImg := filepath.Join(out, "esp.img")
			rootImg := filepath.Join(out, "root.img")
			sh(b, "truncate", "-s", strconv.FormatInt(l.Size, 10), img)
			sh(b, "sgdisk", "-a", "2048",
				"-n", "1:2048:4095", "-t", "1:EF02",
				"-n", fmt.Sprintf("2:%d:%d", esp.FirstLBA, esp.LastLBA), "-t", "2:EF00",
				"-n", fmt.Sprintf("3:%d:%d", root.FirstLBA, root.LastLBA), "-t", "3:8304", img)
			sh(b, "truncate", "-s", strconv.FormatInt(esp.Size(), 10), espImg)
			sh(b, "mkfs.vfat", "-F", "32", "-n", "ESP", "-i", "1234abcd", espImg)
			sh(b, "mcopy", "-s", "-i", espImg, filepath.Join(espDir, "EFI"), "::/")
			sh(b, "truncate", "-s", strconv.FormatInt(root.Size(), 10), rootImg)
			sh(b, "mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, rootImg)
			sh(b, "dd", "if="+espImg, "of="+img, "bs=1M", fmt.Sprintf("seek=%d", esp.Offset()>>20), "conv=sparse,notrunc", "status=none")
			sh(b, "dd", "if="+rootImg, "of="+img, "bs=1M", fmt.Sprintf("seek=%d", root.Offset()>>20), "conv=sparse,notrunc", "status=none")
			b.StopTimer()
			reportAllocated(b, img)
			os.Remove(img)
			os.Remove(espImg)
			os.Remove(rootImg)
			b.StartTimer()
		}
	})
}

func sh(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// reportAllocated records how much of the image is really on disk.
func reportAllocated(b *testing.B, img string) {
	b.Helper()
	info, err := os.Stat(img)
	if err != nil {
		b.Fatal(err)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		b.ReportMetric(float64(st.Blocks*512)/(1<<20), "MiB-allocated")
	}
}
