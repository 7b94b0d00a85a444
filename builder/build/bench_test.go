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
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
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
	f, rpms := benchFixture(b, fillMiB)
	cache := b.TempDir()
	sde := time.Unix(1700000000, 0)
	opts := Options{Profile: f.profile, Lock: f.lock, CacheDir: cache, KilnInit: f.kinit, Firstboot: f.fb, SourceDateEpoch: &sde}
	// Warm the cache: both pipelines start from verified packages on disk.
	opts.OutDir = b.TempDir()
	if _, err := Build(context.Background(), opts); err != nil {
		b.Fatal(err)
	}
	var kiln, base time.Duration
	var last *Manifest
	b.ResetTimer()
	for b.Loop() {
		opts.OutDir = b.TempDir()
		start := time.Now()
		m, err := Build(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		kiln += time.Since(start)
		last = m
		start = time.Now()
		baseline(b, rpms, b.TempDir(), f.profile.Disk.Size)
		base += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(kiln.Seconds()/n, "kiln-s")
	b.ReportMetric(base.Seconds()/n, "baseline-s")
	b.ReportMetric(kiln.Seconds()/base.Seconds(), "kiln-vs-baseline")
	var stages []string
	for _, s := range last.Stages {
		stages = append(stages, fmt.Sprintf("%s %.2fs", s.Name, s.Seconds))
	}
	b.Logf("kiln stages: %s", strings.Join(stages, ", "))
}

// benchFixture is newFixture plus a filler package.
func benchFixture(b *testing.B, fillMiB int) (fixture, []string) {
	distro, err := rpmtest.HostDistro()
	if err != nil {
		b.Fatal(err)
	}
	filler := &rpmtest.Package{Name: "filler", Version: "1", Arch: "x86_64", Requires: rpmtest.Deps("filesystem"), Compressor: "xz"}
	budget := int64(fillMiB) << 20
	filepath.WalkDir("/usr/lib/x86_64-linux-gnu", func(p string, d fs.DirEntry, err error) error {
		if err != nil || budget <= 0 || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		budget -= int64(len(data))
		filler.Files = append(filler.Files, rpmtest.File{Path: "/opt/filler" + p, Mode: 0o644, Content: string(data)})
		return nil
	})
	distro = append(distro, filler)
	key := rpmtest.TestKey(b, "kiln bench")
	dir := b.TempDir()
	keyPath := filepath.Join(dir, "key")
	key.WritePublicKey(keyPath)
	repoDir := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repoDir, "Packages"), 0o755)
	var pkgs []*repo.Package
	var names, files []string
	for _, p := range distro {
		data, err := p.Build(rpmtest.Options{Key: key})
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(repoDir, "Packages", p.FileName())
		os.WriteFile(path, data, 0o644)
		rp := p.RepoPackage(data)
		rp.Repo = "host"
		pkgs = append(pkgs, rp)
		names = append(names, p.Name)
		files = append(files, path)
	}
	prof := &spec.Profile{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: "bench",
		Repos:    []spec.Repo{{Name: "host", BaseURL: spec.StringList{"file://" + repoDir}, GPGKey: spec.StringList{keyPath}}},
		Packages: names, Disk: spec.Disk{Size: 4 << 30}, Outputs: []string{"raw", "qcow2", "vmdk", "ova", "gce"}}
	prof.ApplyDefaults()
	bins := b.TempDir()
	kinit, fb := filepath.Join(bins, "kiln-init"), filepath.Join(bins, "kiln-firstboot")
	os.WriteFile(kinit, []byte("placeholder"), 0o755)
	os.WriteFile(fb, []byte("placeholder"), 0o755)
	return fixture{profile: prof, lock: lock.New(prof, pkgs), repoDir: repoDir, kinit: kinit, fb: fb}, files
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
