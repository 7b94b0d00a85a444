package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-build/kiln/builder/boot/initrd"
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
	KilnInit string // the static kiln-init binary on the host
	Modules  []string
	ModTime  time.Time
	Run      Runner
	// ScratchDir receives the GRUB images (host path).
	ScratchDir string
}

// Result is what the disk stage needs.
type Result struct {
	Kernel  Kernel
	Initrd  initrd.Report
	EFI     string // host path of BOOTX64.EFI, "" for BIOS-only images
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
	res.Initrd, err = writeInitrd(ctx, o, k)
	if err != nil {
		return res, fmt.Errorf("building the initramfs: %w", err)
	}
	cfg := GrubConfig(MenuEntry{Title: o.Title, Kernel: k, RootUUID: o.RootUUID, Cmdline: o.Cmdline, Timeout: 1})
	if err := writeFile(filepath.Join(o.Root, "boot/grub2/grub.cfg"), []byte(cfg), 0o644, o.ModTime); err != nil {
		return res, err
	}
	imgs, err := MakeGrubImages(ctx, o.Root, o.Run, o.Firmware, o.RootUUID, o.ScratchDir)
	if err != nil {
		return res, err
	}
	res.EFI, res.CoreImg, res.BootImg = imgs.EFI, imgs.CoreImg, imgs.BootImg
	return res, nil
}

func writeInitrd(ctx context.Context, o Options, k Kernel) (initrd.Report, error) {
	dst := filepath.Join(o.Root, k.Initramfs())
	tmp := dst + ".kiln-tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return initrd.Report{}, err
	}
	rep, err := initrd.Build(ctx, f, initrd.Options{Root: o.Root, KernelVersion: k.Version, Init: o.KilnInit, Modules: o.Modules, ModTime: o.ModTime})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, o.ModTime, o.ModTime)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return rep, err
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
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".kiln-tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Close())
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(tmp, mtime, mtime)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
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
