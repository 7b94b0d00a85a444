package qemu

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// bootSector is a 512-byte MBR boot sector that writes msg to COM1 and
// halts; with hang it prints nothing and spins. Assembled by hand:
//
//	xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8
//	l: lodsb; test al,al; jz d; out dx,al; jmp l
//	d: hlt; jmp d
//	msg: db ...,0
func bootSector(msg string, hang bool) []byte {
	b := make([]byte, 512)
	code := []byte{
		0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x15, 0x7c, 0xba, 0xf8, 0x03,
		0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8,
		0xf4, 0xeb, 0xfd,
	}
	if hang {
		code = []byte{0xeb, 0xfe} // jmp $
	}
	copy(b, code)
	copy(b[0x15:], msg+"\x00")
	b[510], b[511] = 0x55, 0xaa
	return b
}

func writeDisk(t *testing.T, dir string, sector []byte) string {
	t.Helper()
	p := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(p, sector, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSniff(t *testing.T) {
	tarHead := make([]byte, 512)
	copy(tarHead[257:], "ustar\x0000")
	for _, c := range []struct {
		head []byte
		want Format
	}{
		{[]byte("QFI\xfb\x00\x00\x00\x03"), QCOW2},
		{[]byte("KDMV\x01\x00\x00\x00"), VMDK},
		{[]byte("# Disk DescriptorFile\nversion=1\n"), VMDK},
		{tarHead, OVA},
		{bootSector("x", false), Raw},
		{nil, Raw},
	} {
		if got := sniffBytes(c.head); got != c.want {
			t.Errorf("sniffBytes(%q...) = %s, want %s", c.head[:min(len(c.head), 8)], got, c.want)
		}
	}
}

func TestArgs(t *testing.T) {
	m := machine{accel: AccelTCG, disk: "/w/disk.qcow2", code: "/fw/CODE.fd", vars: "/w/VARS.fd", fwcfg: "/m/m1.yaml", cidata: "/w/cidata.iso"}
	got := strings.Join(m.args(Options{MemoryMiB: 2048, CPUs: 4, Forwards: []Forward{{Guest: "10.0.2.100:8443", Host: "127.0.0.1:4443"}}}), " ")
	for _, want := range []string{
		"-m 2048 -smp 4",
		"-accel tcg,thread=multi -cpu max",
		"-drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd -drive if=pflash,format=raw,unit=1,file=/w/VARS.fd",
		"-drive if=virtio,format=qcow2,file=/w/disk.qcow2",
		"-serial stdio",
		"-nic user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:8443-tcp:127.0.0.1:4443 ",
		"-fw_cfg name=opt/kiln/metadata,file=/m/m1.yaml",
		"-drive if=virtio,format=raw,readonly=on,media=cdrom,file=/w/cidata.iso",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	got = strings.Join(m.args(Options{Tap: "tap-m1", MAC: "52:54:00:00:00:11", Forwards: []Forward{{Guest: "10.0.2.100:8443", Host: "127.0.0.1:4443"}}}), " ")
	if want := "-nic tap,model=virtio-net-pci,script=no,downscript=no,ifname=tap-m1,mac=52:54:00:00:00:11 "; !strings.Contains(got, want) {
		t.Errorf("args lack %q:\n%s", want, got)
	}
	got = strings.Join(machine{accel: AccelKVM, disk: "d"}.args(Options{}), " ")
	if !strings.Contains(got, "-m 1024 -smp 2") || !strings.Contains(got, "-accel kvm -cpu host") || strings.Contains(got, "pflash") || strings.Contains(got, "fw_cfg") {
		t.Errorf("BIOS/KVM defaults: %s", got)
	}
}

func TestCleanLine(t *testing.T) {
	in := "\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mmulti-user.target\x1b[0m.\r"
	if got, want := CleanLine(in), "  OK  ] Reached target multi-user.target."; got != want {
		t.Errorf("CleanLine = %q, want %q", got, want)
	}
}

// TestRunBIOSBootSector boots a real (tiny) disk under QEMU: SeaBIOS loads
// the boot sector, which prints on the serial port; Run stops at the line.
// The same disk as qcow2 and inside an OVA boots the same way, and the
// image file is left untouched.
func TestRunBIOSBootSector(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-img")
	dir := t.TempDir()
	raw := writeDisk(t, dir, bootSector("KILN-BOOT-OK from the boot sector\r\n", false))
	before, _ := os.ReadFile(raw)

	qcow := filepath.Join(dir, "disk.qcow2")
	vmdk := filepath.Join(dir, "disk.vmdk")
	for _, c := range [][]string{
		{"convert", "-f", "raw", "-O", "qcow2", raw, qcow},
		{"convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk},
	} {
		if out, err := exec.Command("qemu-img", c...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", c, err, out)
		}
	}
	ova := filepath.Join(dir, "node.ova")
	writeOVA(t, ova, vmdk)

	for _, img := range []string{raw, qcow, ova} {
		t.Run(filepath.Base(img), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var serial strings.Builder
			res, err := Run(ctx, Options{Image: img, MemoryMiB: 64, CPUs: 1, Serial: &serial, Accel: AccelTCG,
				DiskSize: 8 << 20, Until: regexp.MustCompile(`^KILN-BOOT-OK`)})
			if err != nil {
				t.Fatalf("Run: %v\nserial:\n%s", err, serial.String())
			}
			if res.Matched != "KILN-BOOT-OK from the boot sector" {
				t.Errorf("Matched = %q", res.Matched)
			}
			if !strings.Contains(serial.String(), "KILN-BOOT-OK") || !strings.Contains(string(res.Log), "KILN-BOOT-OK") {
				t.Errorf("serial copy %q, log %q", serial.String(), res.Log)
			}
			t.Logf("booted %s with %s in %s", filepath.Base(img), res.Accel, res.Duration.Round(time.Millisecond))
		})
	}
	after, _ := os.ReadFile(raw)
	if string(before) != string(after) {
		t.Error("the raw image was modified")
	}
}

func writeOVA(t *testing.T, ova, vmdk string) {
	t.Helper()
	f, err := os.Create(ova)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	ovf := []byte("<?xml version=\"1.0\"?><Envelope/>\n")
	tw.WriteHeader(&tar.Header{Name: "node.ovf", Mode: 0o644, Size: int64(len(ovf)), Format: tar.FormatUSTAR})
	tw.Write(ovf)
	b, err := os.ReadFile(vmdk)
	if err != nil {
		t.Fatal(err)
	}
	tw.WriteHeader(&tar.Header{Name: "node-disk1.vmdk", Mode: 0o644, Size: int64(len(b)), Format: tar.FormatUSTAR})
	tw.Write(b)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// OVMF prints its boot manager's progress on the serial port; with no
// bootable disk it names the devices it tried.
func TestRunUEFIFirmware(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-img")
	if _, err := os.Stat(DebianOVMF().Code); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ovmf is required in CI")
		}
		t.Skip("ovmf not installed")
	}
	dir := t.TempDir()
	raw := writeDisk(t, dir, make([]byte, 512))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{Image: raw, Firmware: UEFI, MemoryMiB: 256, CPUs: 1, Until: regexp.MustCompile(`BdsDxe`)})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, res.Log)
	}
	if _, err := os.Stat(filepath.Join(dir, "OVMF_VARS.fd")); err == nil {
		t.Error("variable store written next to the image")
	}
}

func TestRunTimeoutAndExit(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-img")
	dir := t.TempDir()
	raw := writeDisk(t, dir, bootSector("", true))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, Options{Image: raw, MemoryMiB: 64, CPUs: 1, Accel: AccelTCG, Until: regexp.MustCompile(`never`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run past the deadline = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Run took %s after a 3s deadline", d)
	}

	// A machine that stops by itself ends Run with ErrNoMatch.
	bad := writeDisk(t, t.TempDir(), func() []byte {
		// cli; xor ax,ax; mov ds,ax; lidt [0x7c10] (a zero-limit IDT);
		// int3: a triple fault, which -no-reboot turns into an exit.
		b := make([]byte, 512)
		copy(b, []byte{0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x0f, 0x01, 0x1e, 0x10, 0x7c, 0xcc})
		b[510], b[511] = 0x55, 0xaa
		return b
	}())
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	// Under TCG: nested KVM (as on CI's virtual machines) may spin on a
	// triple fault instead of reporting it.
	_, err = Run(ctx2, Options{Image: bad, MemoryMiB: 64, CPUs: 1, Accel: AccelTCG, Until: regexp.MustCompile(`never`), ExtraArgs: []string{"-no-reboot"}})
	if !errors.Is(err, ErrNoMatch) {
		t.Errorf("Run of a machine that stops = %v, want ErrNoMatch", err)
	}
}

func TestDiskSizeMayNotShrink(t *testing.T) {
	need(t, "qemu-img")
	dir := t.TempDir()
	raw := writeDisk(t, dir, bootSector("x", false))
	_, err := Run(context.Background(), Options{Image: raw, DiskSize: 4096, QEMU: "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "smaller than the image") {
		t.Errorf("Run with a smaller disk = %v", err)
	}
}

// The NoCloud volume is checked with isoinfo (genisoimage): label cidata,
// kiln.yaml under its Rock Ridge name with the document's bytes.
func TestWriteNoCloudISO(t *testing.T) {
	need(t, "isoinfo")
	dir := t.TempDir()
	iso := filepath.Join(dir, "cidata.iso")
	doc := "apiVersion: kiln/v1\nkind: NodeConfig\n"
	if err := WriteNoCloudISO(iso, filepath.Join(dir, "ws"), map[string][]byte{"kiln.yaml": []byte(doc)}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("isoinfo", "-d", "-i", iso).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^Volume id: cidata\s*$`).Match(out) {
		t.Errorf("isoinfo -d: %v\n%s", err, out)
	}
	out, err = exec.Command("isoinfo", "-R", "-i", iso, "-x", "/kiln.yaml").CombinedOutput()
	if err != nil || string(out) != doc {
		t.Errorf("isoinfo -x /kiln.yaml = %q, %v", out, err)
	}
}
