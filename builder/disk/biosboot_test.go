package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
)

// syntheticGrub makes a boot.img and a 3.5-sector core.img with GRUB's
// layout: boot.img ends in 0x55AA; core.img's first sector ends in two
// stale blocklist entries, as grub-mkimage leaves them.
func syntheticGrub() (boot, core []byte) {
	boot = make([]byte, 512)
	for i := range boot {
		boot[i] = byte(i*13 + 1)
	}
	boot[510], boot[511] = 0x55, 0xAA
	core = make([]byte, 3*512+256)
	for i := range core {
		core[i] = byte(i*7 + 3)
	}
	le := binary.LittleEndian
	le.PutUint64(core[500:], 2)
	le.PutUint16(core[508:], 0x34)
	le.PutUint16(core[510:], 0x820)
	le.PutUint64(core[488:], 99)
	le.PutUint16(core[496:], 5)
	le.PutUint16(core[498:], 0x1000)
	clear(core[476:488]) // terminator
	le.PutUint16(core[512+noRSLength:], 0x1234)
	return boot, core
}

func TestPatchBIOSBoot(t *testing.T) {
	boot, core := syntheticGrub()
	mbr, patched, err := patchBIOSBoot(BIOSBoot{BootImg: boot, CoreImg: core}, 2048, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if len(mbr) != 440 {
		t.Fatalf("boot code is %d bytes, want 440", len(mbr))
	}
	want := append([]byte(nil), boot[:440]...)
	clear(want[3:0x5A])
	binary.LittleEndian.PutUint64(want[0x5C:], 2048)
	want[0x64] = 0xFF
	want[0x66], want[0x67] = 0x90, 0x90
	if !bytes.Equal(mbr, want) {
		t.Errorf("boot code differs from the expected patch:\n got % x\nwant % x", mbr, want)
	}
	if len(patched) != 4*512 {
		t.Fatalf("core is %d bytes, want 4 sectors", len(patched))
	}
	wantCore := append(append([]byte(nil), core...), make([]byte, 256)...)
	clear(wantCore[476:512])
	copy(wantCore[500:], []byte{0x01, 0x08, 0, 0, 0, 0, 0, 0, 3, 0, 0x20, 0x08})
	if !bytes.Equal(patched, wantCore) {
		for i := range patched {
			if patched[i] != wantCore[i] {
				t.Fatalf("core differs first at byte %d: got %#x want %#x", i, patched[i], wantCore[i])
			}
		}
	}
}

func TestPatchBIOSBootRejects(t *testing.T) {
	boot, core := syntheticGrub()
	noSig := append([]byte(nil), boot...)
	noSig[511] = 0
	badRS := append([]byte(nil), core...)
	binary.LittleEndian.PutUint16(badRS[512+noRSLength:], 0xFFFF)
	for _, tc := range []struct {
		name string
		b    BIOSBoot
		want string
	}{
		{"short boot.img", BIOSBoot{BootImg: boot[:400], CoreImg: core}, "want 512"},
		{"no signature", BIOSBoot{BootImg: noSig, CoreImg: core}, "0x55AA"},
		{"tiny core", BIOSBoot{BootImg: boot, CoreImg: core[:600]}, "too small"},
		{"huge core", BIOSBoot{BootImg: boot, CoreImg: make([]byte, 900*512)}, "more than the 888"},
		{"version", BIOSBoot{BootImg: boot, CoreImg: badRS}, "incompatible GRUB"},
	} {
		if _, _, err := patchBIOSBoot(tc.b, 2048, 2048); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

const grubDir = "/usr/lib/grub/i386-pc"

// TestBIOSBootMatchesGrubBiosSetup embeds a real core.img (grub-mkimage)
// with Write, and separately runs grub-bios-setup --no-rs-codes on the same
// disk written without BIOS boot; the two images must be identical.
//
// grub-bios-setup insists on finding the device that holds its -d
// directory; in a private mount namespace, a tmpfs whose source is named
// after the image file makes that the image itself, so no loop device is
// needed.
func TestBIOSBootMatchesGrubBiosSetup(t *testing.T) {
	reftest.Root(t)
	mkimage := reftest.Tool(t, "grub-mkimage")
	unshare := reftest.Tool(t, "unshare")
	setup := filepath.Join(grubDir, "grub-bios-setup")
	if _, err := os.Stat(setup); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("grub-pc-bin is required in CI: %v", err)
		}
		t.Skip("grub-pc-bin not installed")
	}
	work := t.TempDir()
	coreImg := filepath.Join(work, "core.img")
	run(t, mkimage, "-O", "i386-pc", "-o", coreImg, "-p", "(hd0,gpt3)/boot/grub2", "biosdisk", "part_gpt", "ext2")
	core, err := os.ReadFile(coreImg)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := os.ReadFile(filepath.Join(grubDir, "boot.img"))
	if err != nil {
		t.Fatal(err)
	}

	l := testLayout(t, CompatEL8)
	tree := makeRootTree(t)
	ours := filepath.Join(work, "ours.raw")
	theirs := filepath.Join(work, "theirs.raw")
	if err := Write(context.Background(), ours, l, Contents{RootTree: tree, BIOS: &BIOSBoot{BootImg: boot, CoreImg: core}}); err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), theirs, l, Contents{RootTree: tree}); err != nil {
		t.Fatal(err)
	}

	grubFiles := filepath.Join(work, "grubfiles")
	if err := os.Mkdir(grubFiles, 0o755); err != nil {
		t.Fatal(err)
	}
	deviceMap := filepath.Join(work, "device.map")
	if err := os.WriteFile(deviceMap, []byte("(hd0) "+theirs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`set -e
mount -t tmpfs %[1]s %[2]s
cp %[3]s %[4]s %[2]s/
%[5]s --no-rs-codes -d %[2]s -b boot.img -c core.img -m %[6]s %[1]s`,
		theirs, grubFiles, filepath.Join(grubDir, "boot.img"), coreImg, setup, deviceMap)
	out, err := exec.Command(unshare, "-m", "sh", "-c", script).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "" && strings.Contains(string(out), "mount") {
			t.Skipf("cannot mount in a private namespace here: %s", out)
		}
		t.Fatalf("grub-bios-setup: %v\n%s", err, out)
	}
	a, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[:512], make([]byte, 512)) {
		t.Fatal("no MBR boot code written")
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("image differs from grub-bios-setup's at byte %#x (sector %d): ours %#02x, grub %#02x", i, i/512, a[i], b[i])
		}
	}
}
