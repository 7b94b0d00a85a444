// Package boot makes an installed image tree bootable without booting it:
// it finds the kernel, writes kiln's initramfs next to it, renders
// grub.cfg (root by UUID, serial and VGA consoles) and builds the GRUB
// images for UEFI (BOOTX64.EFI) and BIOS (core.img + boot.img) with the
// target's own grub-mkimage and modules, run inside the tree.
//
//	k, _ := boot.FindKernel(tree)
//	cfg := boot.GrubConfig(boot.MenuEntry{Title: "node", Kernel: k, RootUUID: uuid, Cmdline: args})
package boot

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/version"
)

// Kernel is a kernel found in an image tree.
type Kernel struct {
	Version string // e.g. 5.14.0-503.el9.x86_64; the lib/modules directory name
	Image   string // path inside the tree, e.g. /lib/modules/KVER/vmlinuz
}

// BootImage is where the kernel is (or will be) under /boot.
func (k Kernel) BootImage() string { return "/boot/vmlinuz-" + k.Version }

// Initramfs is where kiln writes the kernel's initramfs.
func (k Kernel) Initramfs() string { return "/boot/initramfs-" + k.Version + ".img" }

// FindKernel returns the newest kernel in the tree: /lib/modules/KVER/vmlinuz
// as EL8 and later ship it, or /boot/vmlinuz-KVER as EL7 and Debian do.
// Only kernels with a modules directory count.
func FindKernel(root string) (Kernel, error) {
	var found []Kernel
	mods, _ := os.ReadDir(filepath.Join(root, "lib/modules"))
	for _, m := range mods {
		kver := m.Name()
		for _, p := range []string{path.Join("/lib/modules", kver, "vmlinuz"), "/boot/vmlinuz-" + kver} {
			if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode().IsRegular() {
				found = append(found, Kernel{Version: kver, Image: p})
				break
			}
		}
	}
	if len(found) == 0 {
		return Kernel{}, fmt.Errorf("no kernel in %s (looked for /lib/modules/KVER/vmlinuz and /boot/vmlinuz-KVER); is a kernel package in the profile?", root)
	}
	sort.Slice(found, func(i, j int) bool { return version.Compare(found[i].Version, found[j].Version) > 0 })
	return found[0], nil
}

// MenuEntry is what grub.cfg boots.
type MenuEntry struct {
	Title    string
	Kernel   Kernel
	RootUUID string
	Cmdline  []string // extra kernel arguments from the profile
	Timeout  int      // seconds; 0 boots at once
	// LinuxEFI loads the kernel with linuxefi and initrdefi when GRUB runs
	// under UEFI, linux and initrd under BIOS (Release.GrubLinuxEFI: EL7).
	LinuxEFI bool
}

// GrubConfig renders /boot/grub2/grub.cfg. GRUB talks on both the serial
// port and the screen, so `kiln run` and a vSphere console both see it.
func GrubConfig(e MenuEntry) string {
	args := append([]string{"root=UUID=" + e.RootUUID, "ro"}, e.Cmdline...)
	linux := fmt.Sprintf("%s %s", e.Kernel.BootImage(), strings.Join(args, " "))
	load := fmt.Sprintf("\tlinux %s\n\tinitrd %s\n", linux, e.Kernel.Initramfs())
	if e.LinuxEFI {
		// grub_platform is "efi" in GRUB's EFI builds, "pc" in BIOS ones.
		load = fmt.Sprintf("\tif [ \"${grub_platform}\" = efi ]; then\n\t\tlinuxefi %[1]s\n\t\tinitrdefi %[2]s\n\telse\n\t\tlinux %[1]s\n\t\tinitrd %[2]s\n\tfi\n",
			linux, e.Kernel.Initramfs())
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by kiln. The image is immutable: rebuild it to change this.
set timeout=%d
set default=kiln
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input console serial
terminal_output console serial
search --no-floppy --fs-uuid --set=root %s
menuentry '%s (%s)' --id kiln {
%s}
`, e.Timeout, e.RootUUID, strings.ReplaceAll(e.Title, "'", ""), e.Kernel.Version, load)
	return b.String()
}

// EarlyConfig is embedded in the GRUB images: it finds the root filesystem
// by UUID and points GRUB's prefix at /boot/grub2 there, so both firmware
// paths read the same grub.cfg.
func EarlyConfig(rootUUID string) string {
	return fmt.Sprintf("search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub2\n", rootUUID)
}

// GRUB modules built into the images; names a GRUB build lacks are left
// out (efi_uga left newer GRUBs, linuxefi exists only in EL7's).
var (
	commonModules = []string{
		"part_gpt", "part_msdos", "fat", "ext2", "normal", "linux", "boot", "configfile",
		"search", "search_fs_uuid", "search_label", "serial", "terminal", "echo", "test",
		"ls", "cat", "gzio", "xzio", "zstd", "reboot", "halt", "sleep", "all_video",
	}
	efiModules  = []string{"efi_gop", "efi_uga", "linuxefi"}
	biosModules = []string{"biosdisk", "vga"}
)

// Platform is a GRUB target.
type Platform struct {
	Format  string   // grub-mkimage -O
	ModDir  string   // in-tree module directory
	Modules []string // wanted modules, before filtering
	Output  string   // file name
}

// Platforms for the two firmware types.
var (
	EFI  = Platform{"x86_64-efi", "/usr/lib/grub/x86_64-efi", append(append([]string{}, commonModules...), efiModules...), "BOOTX64.EFI"}
	BIOS = Platform{"i386-pc", "/usr/lib/grub/i386-pc", append(append([]string{}, commonModules...), biosModules...), "core.img"}
)

// AvailableModules returns the wanted modules that exist in the tree.
func (p Platform) AvailableModules(root string) ([]string, error) {
	dir := filepath.Join(root, p.ModDir)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("GRUB %s modules not found at %s; add the distribution's GRUB module package to the profile (grub2-efi-x64-modules / grub2-pc-modules on EL)", p.Format, p.ModDir)
	}
	var mods []string
	for _, m := range p.Modules {
		if _, err := os.Stat(filepath.Join(dir, m+".mod")); err == nil {
			mods = append(mods, m)
		}
	}
	return mods, nil
}

// MkimageArgs returns the grub-mkimage arguments (without the program) that
// build the platform's image at out with the early config at cfg (both
// in-tree paths).
func (p Platform) MkimageArgs(mods []string, cfg, out string) []string {
	prefix := "/boot/grub2"
	args := []string{"-O", p.Format, "-d", p.ModDir, "-c", cfg, "-p", prefix, "-o", out}
	return append(args, mods...)
}

// FindMkimage returns the tree's grub-mkimage: grub2-mkimage on EL,
// grub-mkimage elsewhere.
func FindMkimage(root string) (string, error) {
	for _, p := range []string{"/usr/bin/grub2-mkimage", "/usr/bin/grub-mkimage", "/bin/grub2-mkimage", "/bin/grub-mkimage"} {
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("grub-mkimage not found in the image; add the distribution's GRUB tools package to the profile (grub2-tools on EL)")
}
