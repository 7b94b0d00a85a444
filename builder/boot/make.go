package boot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-build/kiln/builder/boot/initrd"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

// Runner runs a command inside the image tree (chroot.Run in kiln).
type Runner func(ctx context.Context, argv []string) error

// Options for Prepare.
type Options struct {
	Root     string // the installed image tree
	Title    string
	RootUUID string
	Cmdline  []string
	Firmware string // hybrid, uefi or bios
	// Initramfs is "kiln" (kiln-init, the default) or "dracut" (the
	// image's own dracut, run inside the tree).
	Initramfs string
	// SecureBoot boots UEFI through the image's shim and signed GRUB
	// instead of a GRUB image kiln builds.
	SecureBoot bool
	KilnInit   string // the static kiln-init binary on the host
	Modules    []string
	ModTime    time.Time
	Run        Runner
	// ScratchDir receives the GRUB images (host path).
	ScratchDir string
}

// Result is what the disk stage needs.
type Result struct {
	Kernel Kernel
	Initrd initrd.Report
	EFI    string // host path of BOOTX64.EFI, "" for BIOS-only images
	// ESP lists every file the ESP gets (ESP path → host path), BOOTX64.EFI
	// included.
	ESP     map[string]string
	CoreImg string // host path of core.img, "" for UEFI-only images
	BootImg string // host path of boot.img (the MBR code), with CoreImg
}

// Prepare puts the kernel and kiln's initramfs under /boot, writes
// /boot/grub2/grub.cfg, and builds the GRUB images the firmware asks for.
func Prepare(ctx context.Context, o Options) (Result, error) {
	var res Result
	k, err := FindKernel(o.Root)
	if err != nil {
		return res, err
	}
	res.Kernel = k
	if k.Image != k.BootImage() {
		if err := copyFile(filepath.Join(o.Root, k.Image), filepath.Join(o.Root, k.BootImage()), 0o755, o.ModTime); err != nil {
			return res, fmt.Errorf("copying the kernel to /boot: %w", err)
		}
	}
	if o.Initramfs == "dracut" {
		err = runDracut(ctx, o, k)
	} else {
		res.Initrd, err = writeInitrd(ctx, o, k)
	}
	if err != nil {
		return res, fmt.Errorf("building the initramfs: %w", err)
	}
	rel, err := ReadRelease(o.Root)
	if err != nil {
		return res, fmt.Errorf("reading the image's os-release: %w", err)
	}
	cfg := GrubConfig(MenuEntry{Title: o.Title, Kernel: k, RootUUID: o.RootUUID, Cmdline: o.Cmdline, Timeout: 1,
		LinuxEFI: rel.GrubLinuxEFI()})
	if err := writeFile(filepath.Join(o.Root, "boot/grub2/grub.cfg"), []byte(cfg), 0o644, o.ModTime); err != nil {
		return res, err
	}
	grubFirmware := o.Firmware
	if o.SecureBoot {
		// UEFI goes through shim; kiln builds only the BIOS image.
		grubFirmware = map[string]string{"hybrid": "bios", "uefi": "", "bios": "bios"}[o.Firmware]
	}
	if grubFirmware != "" {
		imgs, err := MakeGrubImages(ctx, o.Root, o.Run, grubFirmware, o.RootUUID, o.ScratchDir)
		if err != nil {
			return res, err
		}
		res.EFI, res.CoreImg, res.BootImg = imgs.EFI, imgs.CoreImg, imgs.BootImg
	}
	res.ESP = map[string]string{}
	if res.EFI != "" {
		res.ESP["EFI/BOOT/BOOTX64.EFI"] = res.EFI
	}
	if o.SecureBoot {
		files, err := SecureBootESP(o.Root, o.RootUUID, o.ScratchDir)
		if err != nil {
			return res, err
		}
		res.ESP = files
		res.EFI = files["EFI/BOOT/BOOTX64.EFI"]
	}
	return res, nil
}

// runDracut builds the distribution's generic (not host-only) initramfs
// with the image's own dracut.
func runDracut(ctx context.Context, o Options, k Kernel) error {
	if _, err := os.Stat(filepath.Join(o.Root, "usr/bin/dracut")); err != nil {
		return fmt.Errorf("boot.initramfs is dracut, but the image has no /usr/bin/dracut: add dracut to the profile's packages")
	}
	return o.Run(ctx, []string{"dracut", "--no-hostonly", "--force", "--kver", k.Version, k.Initramfs()})
}

// SecureBootESP lays out the ESP for Secure Boot from what the image's
// shim and signed GRUB packages installed under /boot/efi/EFI/VENDOR:
// EFI/BOOT/BOOTX64.EFI is shim, which loads grubx64.efi beside it; the
// signed GRUB looks for its config under its built-in prefix,
// EFI/VENDOR/grub.cfg, which kiln points at /boot/grub2/grub.cfg on root.
func SecureBootESP(root, rootUUID, scratch string) (map[string]string, error) {
	shims, _ := filepath.Glob(filepath.Join(root, "boot/efi/EFI/*/shimx64.efi"))
	var vendor string
	for _, s := range shims {
		if v := filepath.Base(filepath.Dir(s)); v != "BOOT" {
			vendor = v
			break
		}
	}
	if vendor == "" {
		return nil, fmt.Errorf("boot.secureBoot needs the distribution's shim and signed GRUB (/boot/efi/EFI/VENDOR/shimx64.efi): add shim-x64 and grub2-efi-x64 to the profile's packages")
	}
	dir := filepath.Join(root, "boot/efi/EFI", vendor)
	grub := filepath.Join(dir, "grubx64.efi")
	if _, err := os.Stat(grub); err != nil {
		return nil, fmt.Errorf("boot.secureBoot: %s has shim but no signed grubx64.efi: add grub2-efi-x64 to the profile's packages", dir)
	}
	cfg := filepath.Join(scratch, "secureboot-grub.cfg")
	if err := os.WriteFile(cfg, []byte(EarlyConfig(rootUUID)+"configfile $prefix/grub.cfg\n"), 0o644); err != nil {
		return nil, err
	}
	files := map[string]string{
		"EFI/BOOT/BOOTX64.EFI":           filepath.Join(dir, "shimx64.efi"),
		"EFI/BOOT/grubx64.efi":           grub,
		"EFI/" + vendor + "/shimx64.efi": filepath.Join(dir, "shimx64.efi"),
		"EFI/" + vendor + "/grubx64.efi": grub,
		"EFI/" + vendor + "/grub.cfg":    cfg,
	}
	for _, extra := range []string{"mmx64.efi", "BOOTX64.CSV"} {
		if _, err := os.Stat(filepath.Join(dir, extra)); err == nil {
			files["EFI/"+vendor+"/"+extra] = filepath.Join(dir, extra)
		}
	}
	if fb := filepath.Join(root, "boot/efi/EFI/BOOT/fbx64.efi"); fileExists(fb) {
		files["EFI/BOOT/fbx64.efi"] = fb
	}
	return files, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func writeInitrd(ctx context.Context, o Options, k Kernel) (initrd.Report, error) {
	dst := filepath.Join(o.Root, k.Initramfs())
	f, err := atomicfile.Create(dst, atomicfile.Options{Mode: 0o600, ModTime: o.ModTime, NoSync: true})
	if err != nil {
		return initrd.Report{}, err
	}
	defer f.Close()
	rep, err := initrd.Build(ctx, f, initrd.Options{Root: o.Root, KernelVersion: k.Version, Init: o.KilnInit, Modules: o.Modules, ModTime: o.ModTime})
	if err != nil {
		return rep, err
	}
	return rep, f.Commit()
}

// GrubImages are GRUB images on the host.
type GrubImages struct {
	EFI, CoreImg, BootImg string
}

// MakeGrubImages runs the tree's grub-mkimage for each firmware the image
// boots with and copies the results (and boot.img for BIOS) to outDir.
func MakeGrubImages(ctx context.Context, root string, run Runner, firmware, rootUUID, outDir string) (GrubImages, error) {
	var imgs GrubImages
	mkimage, err := FindMkimage(root)
	if err != nil {
		return imgs, err
	}
	// Not /tmp: commands in the tree get a fresh tmpfs there.
	scratch := filepath.Join(root, "var/tmp")
	if err := os.MkdirAll(scratch, 0o1777); err != nil {
		return imgs, err
	}
	work, err := os.MkdirTemp(scratch, "kiln-grub-")
	if err != nil {
		return imgs, err
	}
	defer os.RemoveAll(work)
	inTree := "/var/tmp/" + filepath.Base(work)
	if err := os.WriteFile(filepath.Join(work, "early.cfg"), []byte(EarlyConfig(rootUUID)), 0o644); err != nil {
		return imgs, err
	}
	var plats []Platform
	if firmware == "hybrid" || firmware == "uefi" {
		plats = append(plats, EFI)
	}
	if firmware == "hybrid" || firmware == "bios" {
		plats = append(plats, BIOS)
	}
	if len(plats) == 0 {
		return imgs, fmt.Errorf("firmware %q is not hybrid, uefi or bios", firmware)
	}
	for _, p := range plats {
		mods, err := p.AvailableModules(root)
		if err != nil {
			return imgs, err
		}
		argv := append([]string{mkimage}, p.MkimageArgs(mods, inTree+"/early.cfg", inTree+"/"+p.Output)...)
		if err := run(ctx, argv); err != nil {
			return imgs, fmt.Errorf("building the GRUB %s image: %w", p.Format, err)
		}
		dst := filepath.Join(outDir, p.Output)
		if err := copyFile(filepath.Join(work, p.Output), dst, 0o644, time.Time{}); err != nil {
			return imgs, err
		}
		if p.Format == EFI.Format {
			imgs.EFI = dst
		} else {
			imgs.CoreImg = dst
			imgs.BootImg = filepath.Join(outDir, "boot.img")
			if err := copyFile(filepath.Join(root, p.ModDir, "boot.img"), imgs.BootImg, 0o644, time.Time{}); err != nil {
				return imgs, fmt.Errorf("GRUB boot.img: %w", err)
			}
		}
	}
	return imgs, nil
}

func copyFile(src, dst string, mode os.FileMode, mtime time.Time) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.Create(dst, atomicfile.Options{Mode: mode, ModTime: mtime, MakeDirs: true, NoSync: true})
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Commit()
}

func writeFile(p string, data []byte, mode os.FileMode, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	if !mtime.IsZero() {
		return os.Chtimes(p, mtime, mtime)
	}
	return nil
}
