package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/builder/qemu"
	"github.com/kiln-build/kiln/builder/spec"
)

func newRunCommand() *cobra.Command {
	var (
		firmware, metadata, diskSize, serial, until, accel, tap, mac string
		memory, cpus                                                 int
		nocloud                                                      bool
		timeout                                                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run IMAGE",
		Short: "Boot an image locally in QEMU, with node metadata",
		Long: `Boot a kiln image (raw, qcow2, VMDK, or the disk inside an OVA) in
qemu-system-x86_64, with KVM when /dev/kvm works and software emulation
otherwise. The image is never modified: the machine runs on a temporary qcow2
overlay, grown first with --disk-size.

--metadata hands a NodeConfig (see kiln metadata) to kiln-firstboot through
QEMU's fw_cfg (opt/kiln/metadata), or with --nocloud as kiln.yaml on a
NoCloud "cidata" ISO. The serial console is shown on the terminal (or
written to --serial FILE). --until stops the machine when a console line
matches a regular expression; --timeout stops it, and kiln run then exits
non-zero.

The machine's NIC is on QEMU's user network, cut off from the host's network,
unless --tap puts it on an existing tap device: several machines on taps of
one bridge (inside a network namespace of your own, say) share an L2 network,
as the nodes of a cluster do. Give each its own --mac.`,
		Example: `  kiln run out/node.qcow2 --metadata m1.yaml
  kiln run out/node.ova --firmware uefi --memory 4096 --cpus 4
  kiln run out/node.raw --metadata w1.yaml --disk-size 30GiB --serial w1.log \
    --until 'KILN-STATUS .*"phase":"(done|failed)"' --timeout 15m
  kiln run out/node.qcow2 --metadata m1.yaml --tap tap-m1 --mac 52:54:00:00:00:11`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := qemu.Options{Image: args[0], MemoryMiB: memory, CPUs: cpus, Metadata: metadata, NoCloud: nocloud}
			switch firmware {
			case "bios", "uefi":
				o.Firmware = qemu.Firmware(firmware)
			default:
				return usageError{fmt.Errorf("--firmware %q: want uefi or bios", firmware)}
			}
			switch accel {
			case "auto":
			case "kvm", "tcg":
				o.Accel = qemu.Accel(accel)
			default:
				return usageError{fmt.Errorf("--accel %q: want auto, kvm or tcg", accel)}
			}
			if mac != "" {
				hw, err := net.ParseMAC(mac)
				if err != nil || len(hw) != 6 {
					return usageError{fmt.Errorf("--mac %q: want six hex octets such as 52:54:00:12:34:56", mac)}
				}
				if hw[0]&1 != 0 {
					return usageError{fmt.Errorf("--mac %q: a multicast address cannot be a NIC's", mac)}
				}
				o.MAC = hw.String()
			}
			o.Tap = tap
			if nocloud && metadata == "" {
				return usageError{errors.New("--nocloud needs --metadata")}
			}
			if memory < 128 || cpus < 1 {
				return usageError{errors.New("--memory must be at least 128 (MiB) and --cpus at least 1")}
			}
			if diskSize != "" {
				s, err := spec.ParseSize(diskSize)
				if err != nil {
					return usageError{fmt.Errorf("--disk-size: %w", err)}
				}
				o.DiskSize = int64(s)
			}
			if until != "" {
				re, err := regexp.Compile(until)
				if err != nil {
					return usageError{fmt.Errorf("--until: %w", err)}
				}
				o.Until = re
			}
			o.Serial = cmd.OutOrStdout()
			if serial != "" {
				f, err := os.Create(serial)
				if err != nil {
					return fmt.Errorf("--serial: %w", err)
				}
				defer f.Close()
				o.Serial = f
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			res, err := qemu.Run(ctx, o)
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %s without the console showing %q", timeout, until)
			}
			if err != nil {
				return err
			}
			if res.Matched != "" && serial != "" {
				fmt.Fprintln(cmd.OutOrStdout(), res.Matched)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&firmware, "firmware", "bios", "firmware: bios (SeaBIOS) or uefi (OVMF)")
	f.StringVar(&metadata, "metadata", "", "NodeConfig file for kiln-firstboot (fw_cfg opt/kiln/metadata)")
	f.BoolVar(&nocloud, "nocloud", false, "deliver --metadata on a NoCloud cidata ISO instead of fw_cfg")
	f.IntVar(&memory, "memory", 1024, "memory in MiB")
	f.IntVar(&cpus, "cpus", 2, "virtual CPUs")
	f.StringVar(&diskSize, "disk-size", "", "grow the disk the machine sees to this size (e.g. 30GiB); the image is untouched")
	f.StringVar(&serial, "serial", "", "write the serial console to FILE instead of the terminal")
	f.StringVar(&until, "until", "", "stop the machine when a console line matches this regular expression")
	f.DurationVar(&timeout, "timeout", 0, "stop the machine and fail after this long (e.g. 10m); 0 waits")
	f.StringVar(&tap, "tap", "", "put the NIC on this existing tap device instead of QEMU's user network")
	f.StringVar(&mac, "mac", "", "the NIC's MAC address (default: QEMU's, the same for every machine)")
	f.StringVar(&accel, "accel", "auto", "accelerator: auto (KVM when /dev/kvm works), kvm or tcg")
	return cmd
}
