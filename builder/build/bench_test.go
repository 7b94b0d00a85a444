package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/spec"
)

// BenchmarkBuildVsBaseline times a full warm-cache kiln build (install
// through all five outputs) against a pipeline of the standard tools doing
// the same work in the same run: rpm --root install, grub-mkimage,
// sgdisk, mkfs.vfat + mcopy, mke2fs -d, qemu-img convert to qcow2 and to
// streamOptimized vmdk, tar + sha256sum for the OVA, tar -S + gzip for GCE.
// The distribution is the host distribution plus a filler package of real
// binaries (KILN_BENCH_FILL_MIB, default 400) so the tree is node-sized.
// It reports kiln-s, baseline-s, kiln-vs-baseline and kiln's stages.
func BenchmarkBuildVsBaseline(b *testing.B) {
	for _, tool := range []string{"rpm", "grub-mkimage", "sgdisk", "mkfs.vfat", "mcopy", "mke2fs", "qemu-img", "tar", "gzip", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	fillMiB := 400
	if v, err := strconv.Atoi(os.Getenv("KILN_BENCH_FILL_MIB")); err == nil {
		fillMiB = v
	}
	f := newFixture(b, rpmtest.TamperNone, filler(b, fillMiB))
	f.profile.Disk.Size = 4 << 30
	rpms, _ := filepath.Glob(filepath.Join(f.repoDir, "Packages", "*.rpm"))
	cache := b.TempDir()
	sde := time.Unix(1700000000, 0)
	opts := Options{Profile: f.profile, Lock: f.lock, CacheDir: cache, KilnInit: f.kinit, Firstboot: f.fb, SourceDateEpoch: &sde}
	// Warm the cache: both pipelines start from verified packages on disk.
	opts.OutDir = b.TempDir()
	if _, err := Build(context.Background(), opts); err != nil {
		b.Fatal(err)
	}
	var kiln, base, kilnCPU, baseCPU time.Duration
	var last *Manifest
	b.ResetTimer()
	for b.Loop() {
		opts.OutDir = b.TempDir()
		start, startCPU := time.Now(), cpuTime()
		m, err := Build(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		kiln += time.Since(start)
		kilnCPU += cpuTime() - startCPU
		last = m
		start, startCPU = time.Now(), cpuTime()
		baseline(b, rpms, b.TempDir(), f.profile.Disk.Size)
		base += time.Since(start)
		baseCPU += cpuTime() - startCPU
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(kiln.Seconds()/n, "kiln-s")
	b.ReportMetric(base.Seconds()/n, "baseline-s")
	// On a shared machine wall time drifts with the load; CPU time
	// (user+system, this process and the tools it ran) much less.
	b.ReportMetric(kilnCPU.Seconds()/n, "kiln-cpu-s")
	b.ReportMetric(baseCPU.Seconds()/n, "baseline-cpu-s")
	b.ReportMetric(kiln.Seconds()/base.Seconds(), "kiln-vs-baseline")
	var stages []string
	for _, s := range last.Stages {
		stages = append(stages, fmt.Sprintf("%s %.2fs", s.Name, s.Seconds))
	}
	b.Logf("kiln stages: %s", strings.Join(stages, ", "))
}

// cpuTime is the user+system time used so far by this process and by the
// children it has waited for.
func cpuTime() time.Duration {
	var d time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			d += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return d
}

// filler is a package of real binaries from the host, so the tree is
// node-sized.
func filler(b *testing.B, fillMiB int) *rpmtest.Package {
	p := &rpmtest.Package{Name: "filler", Version: "1", Arch: "x86_64", Requires: rpmtest.Deps("filesystem"), Compressor: "zstd"}
	budget := int64(fillMiB) << 20
	filepath.WalkDir("/usr/lib/x86_64-linux-gnu", func(path string, d fs.DirEntry, err error) error {
		if err != nil || budget <= 0 || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		budget -= int64(len(data))
		p.Files = append(p.Files, rpmtest.File{Path: "/opt/filler" + path, Mode: 0o644, Content: string(data)})
		return nil
	})
	return p
}

// baseline builds the same outputs with the standard tools, the way a
// shell script would.
func baseline(b *testing.B, rpms []string, dir string, size spec.Size) {
	sh := func(name string, args ...string) {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("baseline: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	tree := filepath.Join(dir, "tree")
	sh("rpm", append([]string{"--root", tree, "--dbpath", "/var/lib/rpm", "-i", "--nosignature", "--ignorearch"}, rpms...)...)
	grub := filepath.Join(dir, "grub")
	os.MkdirAll(grub, 0o755)
	os.WriteFile(filepath.Join(grub, "early.cfg"), []byte("search --fs-uuid --set=root x\n"), 0o644)
	sh("grub-mkimage", "-O", "x86_64-efi", "-d", "/usr/lib/grub/x86_64-efi", "-c", filepath.Join(grub, "early.cfg"), "-p", "/boot/grub2", "-o", filepath.Join(grub, "BOOTX64.EFI"), "part_gpt", "fat", "ext2", "normal", "linux", "search", "serial", "terminal")
	sh("grub-mkimage", "-O", "i386-pc", "-d", "/usr/lib/grub/i386-pc", "-c", filepath.Join(grub, "early.cfg"), "-p", "/boot/grub2", "-o", filepath.Join(grub, "core.img"), "biosdisk", "part_gpt", "ext2", "normal", "linux", "search", "serial", "terminal")
	raw := filepath.Join(dir, "bench.raw")
	sh("truncate", "-s", strconv.FormatInt(int64(size), 10), raw)
	sh("sgdisk", "-n", "1:2048:+1M", "-t", "1:ef02", "-n", "2:0:+200M", "-t", "2:ef00", "-n", "3:0:0", "-t", "3:8304", raw)
	esp := filepath.Join(dir, "esp.img")
	sh("truncate", "-s", "200M", esp)
	sh("mkfs.vfat", "-F", "32", esp)
	sh("mmd", "-i", esp, "::EFI", "::EFI/BOOT")
	sh("mcopy", "-i", esp, filepath.Join(grub, "BOOTX64.EFI"), "::EFI/BOOT/BOOTX64.EFI")
	sh("dd", "if="+esp, "of="+raw, "bs=1M", "seek=2", "conv=notrunc,sparse", "status=none")
	rootOff := int64(202 << 20)
	sh("mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, "-E", "offset="+strconv.FormatInt(rootOff, 10), raw, strconv.FormatInt((int64(size)-rootOff-(1<<20))>>10, 10)+"k")
	sh("qemu-img", "convert", "-O", "qcow2", raw, filepath.Join(dir, "bench.qcow2"))
	vmdk := filepath.Join(dir, "bench.vmdk")
	sh("qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk)
	ovf := filepath.Join(dir, "bench.ovf")
	os.WriteFile(ovf, []byte("<Envelope/>\n"), 0o644)
	mf := ""
	for _, p := range []string{ovf, vmdk} {
		data, _ := os.ReadFile(p)
		sum := sha256.Sum256(data)
		mf += fmt.Sprintf("SHA256(%s)= %s\n", filepath.Base(p), hex.EncodeToString(sum[:]))
	}
	os.WriteFile(filepath.Join(dir, "bench.mf"), []byte(mf), 0o644)
	sh("tar", "-C", dir, "-cf", filepath.Join(dir, "bench.ova"), "bench.ovf", "bench.mf", "bench.vmdk")
	gceDir := filepath.Join(dir, "gce")
	os.MkdirAll(gceDir, 0o755)
	sh("cp", "--sparse=always", raw, filepath.Join(gceDir, "disk.raw"))
	sh("tar", "-C", gceDir, "--format=oldgnu", "-Sczf", filepath.Join(dir, "bench-gce.tar.gz"), "disk.raw")
}
