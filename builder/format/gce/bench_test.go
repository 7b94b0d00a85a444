package gce

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
	"github.com/kiln-build/kiln/builder/format/vmdk"
)

// The benchmarks convert the same 2 GiB sparse disk (400 MB of data);
// MB/s is over the disk's 2 GiB. BenchmarkGNUTarGzip runs the command GCE
// documents, tar --format=oldgnu -Sczf (sparse tar, single-threaded gzip).

func BenchmarkEncode(b *testing.B) {
	formattest.BenchEncode(b, Encoder{}, FileName("disk"))
}

// BenchmarkEncodeFromVMDK makes the archive from a VMDK of the disk,
// written before the timer starts: what the build does when it writes
// both.
func BenchmarkEncodeFromVMDK(b *testing.B) {
	raw, size := formattest.BenchDisk(b)
	f, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	img := filepath.Join(b.TempDir(), "disk.vmdk")
	if err := format.WriteFile(context.Background(), img, vmdk.Encoder{}, f, size); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), FileName("disk"))
	enc := Encoder{VMDK: openVMDK(b, img, "")}
	b.SetBytes(size)
	start := cpuTime()
	for b.Loop() {
		if err := format.WriteFile(context.Background(), out, enc, f, size); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
	formattest.ReportOutput(b, out, size)
}

// cpuTime is the user+system time this process has used; on a shared
// machine it says more than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkGNUTarGzip(b *testing.B) {
	tarBin := formattest.RequireTool(b, "tar")
	raw, size := formattest.BenchDisk(b)
	out := filepath.Join(b.TempDir(), FileName("disk"))
	b.SetBytes(size)
	for b.Loop() {
		formattest.RunTool(b, tarBin, "--format=oldgnu", "-Sczf", out, "-C", filepath.Dir(raw), filepath.Base(raw))
	}
	formattest.ReportOutput(b, out, size)
}
