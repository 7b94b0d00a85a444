package repo_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// BenchmarkLoad loads a generated 20,000-package repository from a file://
// URL, primary only, in each compression: "cold" starts from an empty
// cache (copy, verify, decompress, parse), "warm" from a filled one
// (verify, decompress, parse). MB/s counts decompressed primary.xml bytes.
// peak-RSS-MiB is the high-water mark of a separate process after a cold
// Load, peak-RSS-fl-MiB the same after LoadFilelists too.
func BenchmarkLoad(b *testing.B) {
	pkgs := rpmtest.GenerateDistro(1, 20000)
	for _, comp := range []string{"gz", "xz", "zst"} {
		dir := b.TempDir()
		if err := rpmtest.WriteRepo(dir, pkgs, rpmtest.RepoOptions{Compression: comp}); err != nil {
			b.Fatal(err)
		}
		f, _ := os.Open(filepath.Join(dir, "repodata", "repomd.xml"))
		md, err := repo.ParseRepomd(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		primary, _ := md.Find("primary")
		src := repo.Source{Name: "bench", BaseURLs: []string{"file://" + dir}}
		for _, warm := range []bool{false, true} {
			name := comp + "/cold"
			if warm {
				name = comp + "/warm"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(primary.OpenSize)
				b.ReportAllocs()
				cache := b.TempDir()
				for b.Loop() {
					if !warm {
						b.StopTimer()
						os.RemoveAll(cache)
						b.StartTimer()
					}
					r, err := repo.Load(context.Background(), src, repo.Options{CacheDir: cache, Client: fastClient(nil)})
					if err != nil {
						b.Fatal(err)
					}
					if len(r.Packages) != len(pkgs) {
						b.Fatalf("%d packages, want %d", len(r.Packages), len(pkgs))
					}
				}
				if !warm {
					primary, withFilelists := peakRSS(b, dir)
					b.ReportMetric(primary, "peak-RSS-MiB")
					b.ReportMetric(withFilelists, "peak-RSS-fl-MiB")
				}
			})
		}
	}
}

// peakRSS runs TestPeakRSSHelper in a child process and returns its VmHWM
// after Load and after LoadFilelists, in MiB.
func peakRSS(b *testing.B, dir string) (primary, filelists float64) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KILN_PEAK_RSS_REPO="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("peak RSS helper: %v\n%s", err, out)
	}
	var figures []float64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "PEAK-RSS-KB "); ok {
			kb, _ := strconv.ParseFloat(v, 64)
			figures = append(figures, kb/1024)
		}
	}
	if len(figures) != 2 {
		b.Fatalf("peak RSS helper printed %d figures, want 2:\n%s", len(figures), out)
	}
	return figures[0], figures[1]
}

// TestPeakRSSHelper is BenchmarkLoad's child process; it does nothing in
// a normal test run.
func TestPeakRSSHelper(t *testing.T) {
	dir := os.Getenv("KILN_PEAK_RSS_REPO")
	if dir == "" {
		t.Skip("only run by BenchmarkLoad")
	}
	r, err := repo.Load(context.Background(), repo.Source{Name: "rss", BaseURLs: []string{"file://" + dir}},
		repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil)})
	if err != nil {
		t.Fatal(err)
	}
	printPeak(t)
	if err := r.LoadFilelists(context.Background()); err != nil {
		t.Fatal(err)
	}
	printPeak(t)
}

func printPeak(t *testing.T) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fmt.Printf("PEAK-RSS-KB %s\n", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
}
