package boot

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
)

func touch(t *testing.T, p string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindKernelPrefersNewestOfEitherLayout(t *testing.T) {
	root := t.TempDir()
	touch(t, filepath.Join(root, "lib/modules/5.14.0-70.el9.x86_64/vmlinuz"))
	touch(t, filepath.Join(root, "lib/modules/5.14.0-503.el9.x86_64/vmlinuz"))
	os.MkdirAll(filepath.Join(root, "lib/modules/6.1.0-0.extra"), 0o755) // modules only: no kernel
	k, err := FindKernel(root)
	if err != nil || k.Version != "5.14.0-503.el9.x86_64" || k.Image != "/lib/modules/5.14.0-503.el9.x86_64/vmlinuz" {
		t.Errorf("FindKernel() = %+v, %v", k, err)
	}

	el7 := t.TempDir()
	touch(t, filepath.Join(el7, "boot/vmlinuz-3.10.0-1160.el7.x86_64"))
	os.MkdirAll(filepath.Join(el7, "lib/modules/3.10.0-1160.el7.x86_64"), 0o755)
	k, err = FindKernel(el7)
	if err != nil || k.Image != "/boot/vmlinuz-3.10.0-1160.el7.x86_64" || k.BootImage() != k.Image {
		t.Errorf("FindKernel(el7) = %+v, %v", k, err)
	}
	if _, err := FindKernel(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a kernel package in the profile?") {
		t.Errorf("FindKernel(empty) = %v", err)
	}
}

func TestGrubConfig(t *testing.T) {
	got := GrubConfig(MenuEntry{Title: "node's", Kernel: Kernel{Version: "6.1.0-28-amd64"}, RootUUID: "0b6e3a1c-1111-2222-3333-444455556666",
		Cmdline: []string{"console=tty0", "console=ttyS0,115200n8"}, Timeout: 1})
	for _, want := range []string{
		"set timeout=1\n",
		"serial --unit=0 --speed=115200",
		"terminal_output console serial\n",
		"search --no-floppy --fs-uuid --set=root 0b6e3a1c-1111-2222-3333-444455556666\n",
		"menuentry 'nodes (6.1.0-28-amd64)' --id kiln {",
		"\tlinux /boot/vmlinuz-6.1.0-28-amd64 root=UUID=0b6e3a1c-1111-2222-3333-444455556666 ro console=tty0 console=ttyS0,115200n8\n",
		"\tinitrd /boot/initramfs-6.1.0-28-amd64.img\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, got)
		}
	}
}

// MakeGrubImages against the build host's own GRUB (Debian's grub-common,
// grub-efi-amd64-bin and grub-pc-bin), with "/" as the tree. Booting the
// images is the e2e test's job.
func TestMakeGrubImagesWithRealMkimage(t *testing.T) {
	for _, d := range []string{"/usr/lib/grub/x86_64-efi", "/usr/lib/grub/i386-pc"} {
		if _, err := os.Stat(d); err != nil {
			reftest.Missing(t, "%s missing (grub-efi-amd64-bin, grub-pc-bin)", d)
		}
	}
	host := func(ctx context.Context, argv []string) error {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Logf("%s\n%s", strings.Join(argv, " "), out)
		}
		return err
	}
	out := t.TempDir()
	uuid := "0b6e3a1c-1111-2222-3333-444455556666"
	// A kiln build elsewhere on this host may have its own scratch here.
	before, _ := filepath.Glob("/var/tmp/kiln-grub-*")
	imgs, err := MakeGrubImages(context.Background(), "/", host, "hybrid", uuid, out)
	if err != nil {
		t.Fatal(err)
	}
	efi, err := os.ReadFile(imgs.EFI)
	if err != nil {
		t.Fatal(err)
	}
	if len(efi) < 0x40 || string(efi[:2]) != "MZ" {
		t.Fatalf("BOOTX64.EFI is not a PE image")
	}
	pe := binary.LittleEndian.Uint32(efi[0x3c:])
	if string(efi[pe:pe+4]) != "PE\x00\x00" || binary.LittleEndian.Uint16(efi[pe+4:]) != 0x8664 {
		t.Errorf("BOOTX64.EFI is not an x86-64 PE image")
	}
	if !bytes.Contains(efi, []byte("search --no-floppy --fs-uuid --set=root "+uuid)) {
		t.Error("BOOTX64.EFI does not embed the early config")
	}
	core, err := os.ReadFile(imgs.CoreImg)
	if err != nil {
		t.Fatal(err)
	}
	if len(core) <= 512 || len(core) > 1<<20-512 {
		t.Errorf("core.img is %d bytes; it must fit the 1 MiB BIOS boot partition", len(core))
	}
	boot, err := os.ReadFile(imgs.BootImg)
	if err != nil || len(boot) != 512 || boot[510] != 0x55 || boot[511] != 0xaa {
		t.Errorf("boot.img: %d bytes, err %v", len(boot), err)
	}
	var leftovers []string
	after, _ := filepath.Glob("/var/tmp/kiln-grub-*")
	for _, p := range after {
		if !slices.Contains(before, p) {
			leftovers = append(leftovers, p)
		}
	}
	if len(leftovers) != 0 {
		t.Errorf("scratch left in the tree: %v", leftovers)
	}
}

func TestSecureBootESPUsesTheDistributionsShim(t *testing.T) {
	root, scratch := t.TempDir(), t.TempDir()
	if _, err := SecureBootESP(root, "u", scratch); err == nil || !strings.Contains(err.Error(), "add shim-x64 and grub2-efi-x64") {
		t.Errorf("no shim: %v", err)
	}
	for _, f := range []string{"boot/efi/EFI/rocky/shimx64.efi", "boot/efi/EFI/rocky/grubx64.efi", "boot/efi/EFI/rocky/mmx64.efi", "boot/efi/EFI/BOOT/BOOTX64.EFI", "boot/efi/EFI/BOOT/fbx64.efi"} {
		touch(t, filepath.Join(root, f))
	}
	files, err := SecureBootESP(root, "0b6e3a1c-1111-2222-3333-444455556666", scratch)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"EFI/BOOT/BOOTX64.EFI":  "boot/efi/EFI/rocky/shimx64.efi",
		"EFI/BOOT/grubx64.efi":  "boot/efi/EFI/rocky/grubx64.efi",
		"EFI/BOOT/fbx64.efi":    "boot/efi/EFI/BOOT/fbx64.efi",
		"EFI/rocky/mmx64.efi":   "boot/efi/EFI/rocky/mmx64.efi",
		"EFI/rocky/shimx64.efi": "boot/efi/EFI/rocky/shimx64.efi",
		"EFI/rocky/grubx64.efi": "boot/efi/EFI/rocky/grubx64.efi",
	}
	for esp, host := range want {
		if files[esp] != filepath.Join(root, host) {
			t.Errorf("ESP %s = %q, want %q", esp, files[esp], filepath.Join(root, host))
		}
	}
	cfg, _ := os.ReadFile(files["EFI/rocky/grub.cfg"])
	if !strings.Contains(string(cfg), "search --no-floppy --fs-uuid --set=root 0b6e3a1c-1111-2222-3333-444455556666") || !strings.Contains(string(cfg), "configfile $prefix/grub.cfg") {
		t.Errorf("signed GRUB's config:\n%s", cfg)
	}
}

func TestDracutNeedsDracutInTheImage(t *testing.T) {
	root := t.TempDir()
	touch(t, filepath.Join(root, "lib/modules/5.14.0-503.el9.x86_64/vmlinuz"))
	var ran []string
	run := func(_ context.Context, argv []string) error { ran = append(ran, strings.Join(argv, " ")); return nil }
	_, err := Prepare(context.Background(), Options{Root: root, Initramfs: "dracut", Run: run, Firmware: "bios", ScratchDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "add dracut to the profile's packages") {
		t.Errorf("Prepare without dracut: %v", err)
	}
	touch(t, filepath.Join(root, "usr/bin/dracut"))
	Prepare(context.Background(), Options{Root: root, Initramfs: "dracut", Run: run, Firmware: "bios", ScratchDir: t.TempDir()})
	if len(ran) == 0 || ran[0] != "dracut --no-hostonly --force --kver 5.14.0-503.el9.x86_64 /boot/initramfs-5.14.0-503.el9.x86_64.img" {
		t.Errorf("commands: %v", ran)
	}
}
