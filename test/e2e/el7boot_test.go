//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/boot/initrd"
	"github.com/kiln-build/kiln/builder/qemu"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest/el7"
	"github.com/kiln-build/kiln/test/e2e/fixture"
)

// kilnInitMounted is kiln-init's line once it has found and mounted the
// root filesystem, just before it hands over to the image's init.
// grubRefused is GRUB refusing a command of grub.cfg (EL7's GRUB under
// UEFI knows no `linux`): the boot stops at the menu, so the test stops
// there too.
var (
	kilnInitMounted = regexp.MustCompile(`kiln-init: mounted root UUID=(\S+) at /sysroot`)
	grubRefused     = regexp.MustCompile("can't find command|error: (file .* not found|you need to load the kernel first|no such (device|partition|disk))")
	el7BootEnd      = regexp.MustCompile(kilnInitMounted.String() + "|" + grubRefused.String())
)

// TestBootRealCentOS7 boots an image built from the real CentOS 7.9
// packages in ../shared/el7-real through CentOS's own boot chain: under
// UEFI, CentOS's shim and signed GRUB 2.02 (which know only
// linuxefi/initrdefi), under BIOS, GRUB's i386-pc core made by the image's
// own grub2-mkimage. It passes when kiln-init, loaded by that GRUB, mounts
// the image's root filesystem by UUID, on both.
//
// No CentOS kernel is in ../shared/el7-real (it is over the set's 4 MiB
// limit), so the kernel package is a labelled stand-in holding Debian 12's
// kernel (from the boot fixture) laid out as EL7 lays its kernel out
// (/boot/vmlinuz-KVER, /lib/modules/KVER). The firmware does not enforce
// Secure Boot: shim would refuse a kernel CentOS did not sign.
func TestBootRealCentOS7(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-img", "mke2fs", "rpm2cpio", "cpio")
	base, key := el7.Dir(t), el7.Key(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	fix, err := fixture.Build(ctx, fixture.Options{Dir: filepath.Join(root, "build/e2e-fixture"), Log: logWriter{t}})
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	work := filepath.Join(root, "build/e2e-el7")
	out := filepath.Join(work, "out")
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bins := buildBinaries(t, root, filepath.Join(work, "bin"))

	kernel := debianKernelAsEL7(t, fix.Repo, filepath.Join(work, "kernel"))
	standins := el7.StandinRepoWith(t, filepath.Join(out, "standins"), kernel)
	profile := filepath.Join(out, "centos7-boot.yaml")
	prof := fmt.Sprintf(`apiVersion: kiln/v1
kind: Profile
name: centos7-boot
description: the real CentOS 7.9 packages, booted through CentOS's shim and GRUB
arch: x86_64
repos:
  - name: base
    baseurl: file://%s
    gpgkey: %s
  - name: standins
    baseurl: file://%s
    gpgcheck: false
packages: [rpm, centos-release, kernel, shim-x64, grub2-efi-x64, grub2-pc]
kernelCmdline: ["console=ttyS0,115200n8"]
disk:
  size: 2GiB
boot:
  firmware: hybrid
  secureBoot: true
outputs: [raw]
`, base, key, standins)
	if err := os.WriteFile(profile, []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	img := buildWithCLI(t, ctx, bins, profile, out)
	t.Logf("image %s: root UUID %s, kernel %s", img.Raw, img.RootUUID, img.Kernel)

	for _, fw := range []qemu.Firmware{qemu.UEFI, qemu.BIOS} {
		t.Run(string(fw), func(t *testing.T) {
			logPath := filepath.Join(out, "boot-"+string(fw)+".console")
			f, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			o := qemu.Options{Image: img.Raw, Firmware: fw, MemoryMiB: 1024, CPUs: 2, Serial: f, Until: el7BootEnd,
				Accel: qemu.AccelTCG, WorkDir: filepath.Join(out, "work-"+string(fw))}
			if a := os.Getenv("KILN_E2E_ACCEL"); a != "" {
				o.Accel = qemu.Accel(a)
			}
			if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
				t.Fatal(err)
			}
			bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			res, err := qemu.Run(bctx, o)
			t.Logf("%s boot took %s; console in %s", fw, res.Duration.Round(time.Second), logPath)
			if err != nil {
				t.Fatalf("%s boot did not reach kiln-init mounting the root: %v\nlast console lines:\n%s", fw, err, tail(string(res.Log), 40))
			}
			lines := res.Lines()
			if m := find(lines, grubRefused.String()); m != nil {
				t.Fatalf("GRUB refused kiln's grub.cfg (%q):\n%s", m[0], tail(string(res.Log), 40))
			}
			m := find(lines, kilnInitMounted.String())
			if len(m) < 2 || m[1] != img.RootUUID {
				t.Errorf("kiln-init mounted %v, want the image's root UUID %s", m, img.RootUUID)
			}
			// GRUB's menu showed kiln's entry and passed its command line.
			if len(find(lines, `Command line: BOOT_IMAGE=/boot/vmlinuz-\S+ root=UUID=`+regexp.QuoteMeta(img.RootUUID))) == 0 {
				t.Errorf("no kernel command line from kiln's grub.cfg on the console")
			}
			// shim's fallback, finding no boot entry in the fresh NVRAM,
			// makes one for CentOS's shim: the chain started there.
			if fw == qemu.UEFI && len(find(lines, `for file "\\EFI\\centos\\shimx64\.efi"`)) == 0 {
				t.Errorf("the console does not show CentOS's shim starting")
			}
		})
	}
}

// debianKernelAsEL7 makes the stand-in kernel package: the boot fixture's
// Debian kernel, its vmlinuz at /boot/vmlinuz-KVER and the modules kiln's
// initramfs takes (initrd.DefaultModules and what they depend on, with
// depmod's index files) under /lib/modules/KVER, as a CentOS 7 kernel
// package lays them out.
func debianKernelAsEL7(t *testing.T, repo, dir string) *rpmtest.Package {
	t.Helper()
	rpms, _ := filepath.Glob(filepath.Join(repo, "Packages", "linux-image-[0-9]*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("want one versioned linux-image package in %s, found %v", repo, rpms)
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The fixture's payload names absolute paths: extract them under dir,
	// never over the host's own.
	cmd := exec.Command("sh", "-c", `rpm2cpio "$1" | cpio -idm --quiet --no-absolute-filenames`, "sh", rpms[0])
	cmd.Dir = dir
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", rpms[0], err, o)
	}
	mods, _ := filepath.Glob(filepath.Join(dir, "usr/lib/modules/*"))
	if len(mods) != 1 {
		t.Fatalf("want one kernel under %s/usr/lib/modules, found %v", dir, mods)
	}
	kdir, kver := mods[0], filepath.Base(mods[0])
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pkg := &rpmtest.Package{
		Name: "kernel", Version: "3.10.0", Release: "1160.el7", Arch: "x86_64", // gzip: rpm 4.11 reads no zstd
		Summary:  "stand-in for CentOS 7's kernel (not in ../shared/el7-real): Debian 12's " + kver + " laid out as EL7's, unsigned",
		Requires: rpmtest.Deps("filesystem"),
		Files: []rpmtest.File{
			{Path: "/boot/vmlinuz-" + kver, Mode: 0o755, Content: read(filepath.Join(kdir, "vmlinuz"))},
			{Path: "/lib/modules/" + kver, Mode: fs.ModeDir | 0o755},
		},
	}
	// depmod's index files, then the modules kiln's initramfs loads.
	idx, _ := filepath.Glob(filepath.Join(kdir, "modules.*"))
	for _, p := range idx {
		pkg.Files = append(pkg.Files, rpmtest.File{Path: "/lib/modules/" + kver + "/" + filepath.Base(p), Mode: 0o644, Content: read(p)})
	}
	deps := map[string][]string{} // module file -> its dependencies' files
	byName := map[string]string{} // module name -> file
	sc := bufio.NewScanner(strings.NewReader(read(filepath.Join(kdir, "modules.dep"))))
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[file] = strings.Fields(rest)
		name := filepath.Base(file)
		name = name[:strings.Index(name, ".ko")]
		byName[strings.ReplaceAll(name, "-", "_")] = file
	}
	want := map[string]bool{}
	var add func(string)
	add = func(file string) {
		if want[file] {
			return
		}
		want[file] = true
		for _, d := range deps[file] {
			add(d)
		}
	}
	for _, m := range initrd.DefaultModules {
		if f, ok := byName[m]; ok {
			add(f)
		}
	}
	if len(want) == 0 {
		t.Fatalf("none of %v is a module of %s", initrd.DefaultModules, kver)
	}
	for f := range want {
		pkg.Files = append(pkg.Files, rpmtest.File{Path: "/lib/modules/" + kver + "/" + f, Mode: 0o644, Content: read(filepath.Join(kdir, f))})
	}
	t.Logf("stand-in kernel %s: vmlinuz and %d modules", kver, len(want))
	return pkg
}
