// Package qemu boots a kiln image in qemu-system-x86_64 on the build host,
// as `kiln run` and the boot test do: with KVM when /dev/kvm works and
// software emulation (TCG) otherwise, UEFI (OVMF) or BIOS (SeaBIOS)
// firmware, node metadata in QEMU's fw_cfg or on a NoCloud `cidata` ISO,
// and the serial console captured line by line.
//
// The image is never written to: QEMU runs on a temporary qcow2 overlay
// backed by it (grown first when a larger disk is asked for). raw, qcow2
// and VMDK images boot as they are; an OVA's disk is taken out of the tar.
//
//	res, err := qemu.Run(ctx, qemu.Options{
//		Image:    "out/node.qcow2",
//		Firmware: qemu.UEFI,
//		Metadata: "m1.yaml",
//		Serial:   os.Stdout,
//		Until:    regexp.MustCompile(`KILN-STATUS .*"phase":"(done|failed)"`),
//	})
package qemu
