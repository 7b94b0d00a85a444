package boot

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/payload"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest/el7"
)

func TestReadReleaseDecidesGrubCommandsPerRelease(t *testing.T) {
	for _, tc := range []struct {
		name, osRelease string
		el              int
		linuxEFI        bool
	}{
		{"CentOS 7", `NAME="CentOS Linux"` + "\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n", 7, true},
		{"RHEL 7.9", "ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"7.9\"\n", 7, true},
		{"Oracle Linux 7", "ID=\"ol\"\nVERSION_ID=\"7.9\"\n", 7, true},
		{"RHEL 8.10", "ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.10\"\n", 8, false},
		{"Rocky 9.4", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n", 9, false},
		{"AlmaLinux 9", "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.5\"\n", 9, false},
		{"CentOS Stream 10", "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"10\"\n", 10, false},
		{"Rocky 10", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"10.0\"\n", 10, false},
		{"Debian 12", "ID=debian\nVERSION_ID=\"12\"\n", 0, false},
		{"Fedora 19", "ID=fedora\nVERSION_ID=19\n", 0, false},
		{"no os-release", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.osRelease != "" {
				// As EL ships it: /etc/os-release links to /usr/lib's.
				os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755)
				os.MkdirAll(filepath.Join(root, "etc"), 0o755)
				if err := os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte(tc.osRelease), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
					t.Fatal(err)
				}
			}
			r, err := ReadRelease(root)
			if err != nil {
				t.Fatal(err)
			}
			if r.EL() != tc.el || r.GrubLinuxEFI() != tc.linuxEFI {
				t.Errorf("ReadRelease() = %+v: EL() = %d, GrubLinuxEFI() = %v; want %d, %v", r, r.EL(), r.GrubLinuxEFI(), tc.el, tc.linuxEFI)
			}
		})
	}
}

func TestGrubConfigLoadsWithLinuxEFIUnderUEFIOnly(t *testing.T) {
	e := MenuEntry{Title: "node", Kernel: Kernel{Version: "3.10.0-1160.el7.x86_64"}, RootUUID: "0b6e3a1c-1111-2222-3333-444455556666", LinuxEFI: true}
	el7cfg := GrubConfig(e)
	want := `	if [ "${grub_platform}" = efi ]; then
		linuxefi /boot/vmlinuz-3.10.0-1160.el7.x86_64 root=UUID=0b6e3a1c-1111-2222-3333-444455556666 ro
		initrdefi /boot/initramfs-3.10.0-1160.el7.x86_64.img
	else
		linux /boot/vmlinuz-3.10.0-1160.el7.x86_64 root=UUID=0b6e3a1c-1111-2222-3333-444455556666 ro
		initrd /boot/initramfs-3.10.0-1160.el7.x86_64.img
	fi
}
`
	if !strings.HasSuffix(el7cfg, want) {
		t.Errorf("EL7 grub.cfg:\n%s\nwant it to end with\n%s", el7cfg, want)
	}
	e.LinuxEFI = false
	el9cfg := GrubConfig(e)
	if strings.Contains(el9cfg, "linuxefi") || strings.Contains(el9cfg, "grub_platform") || !strings.Contains(el9cfg, "\n\tlinux /boot/vmlinuz-") {
		t.Errorf("EL8+ grub.cfg:\n%s", el9cfg)
	}
	check := reftest.Tool(t, "grub-script-check")
	for _, cfg := range []string{el7cfg, el9cfg} {
		p := filepath.Join(t.TempDir(), "grub.cfg")
		os.WriteFile(p, []byte(cfg), 0o644)
		if out, err := exec.Command(check, p).CombinedOutput(); err != nil {
			t.Errorf("grub-script-check: %v\n%s\n%s", err, out, cfg)
		}
	}
}

// TestRealCentOS7GetsLinuxEFI reads the os-release of the real
// centos-release package, and checks that the real signed GRUB it would
// boot under shim (grub2-efi-x64) has the linuxefi and initrdefi commands
// grub.cfg then uses.
func TestRealCentOS7GetsLinuxEFI(t *testing.T) {
	dir := el7.Dir(t)
	root := t.TempDir()
	for _, pkg := range []string{"centos-release-7-9.2009.0.el7.centos.x86_64.rpm", "grub2-efi-x64-2.02-0.86.el7.centos.x86_64.rpm"} {
		f, err := os.Open(filepath.Join(dir, pkg))
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(f)
		h, err := header.Read(r)
		if err == nil {
			_, err = payload.Extract(context.Background(), r, h.Header, root, payload.Options{})
		}
		f.Close()
		if err != nil {
			t.Fatalf("unpacking %s: %v", pkg, err)
		}
	}
	rel, err := ReadRelease(root)
	if err != nil || rel.EL() != 7 || !rel.GrubLinuxEFI() {
		t.Errorf("ReadRelease(CentOS 7.9) = %+v, %v: EL() = %d, GrubLinuxEFI() = %v", rel, err, rel.EL(), rel.GrubLinuxEFI())
	}
	grub, err := os.ReadFile(filepath.Join(root, "boot/efi/EFI/centos/grubx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"linuxefi", "initrdefi", "grub_platform"} {
		if !strings.Contains(string(grub), "\x00"+cmd+"\x00") {
			t.Errorf("CentOS 7's signed grubx64.efi does not name %s", cmd)
		}
	}
}
