package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DMI is the part of the SMBIOS tables the kernel exposes under
// /sys/class/dmi/id that tells hypervisors apart.
type DMI struct {
	SysVendor   string
	ProductName string
	BIOSVendor  string
	BoardVendor string
}

// ReadDMI reads root/sys/class/dmi/id. Missing files (no DMI on this
// machine, or a fake tree without them) leave fields empty; only other read
// errors are returned.
func ReadDMI(root string) (DMI, error) {
	dir := filepath.Join(root, "sys/class/dmi/id")
	var d DMI
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"sys_vendor", &d.SysVendor},
		{"product_name", &d.ProductName},
		{"bios_vendor", &d.BIOSVendor},
		{"board_vendor", &d.BoardVendor},
	} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return DMI{}, fmt.Errorf("reading DMI %s: %w", f.name, err)
		}
		*f.dst = strings.TrimSpace(string(b))
	}
	return d, nil
}

// IsVMware reports a VMware virtual machine ("VMware, Inc." as system
// vendor, "VMware Virtual Platform" or "VMware7,1" as product).
func (d DMI) IsVMware() bool {
	return strings.HasPrefix(d.SysVendor, "VMware") || strings.HasPrefix(d.ProductName, "VMware")
}

// IsGCE reports a Google Compute Engine instance.
func (d DMI) IsGCE() bool {
	return d.SysVendor == "Google" || d.ProductName == "Google Compute Engine" || d.BIOSVendor == "Google"
}

// IsQEMU reports a QEMU (or KVM through QEMU) machine with QEMU's default
// SMBIOS strings.
func (d DMI) IsQEMU() bool {
	return d.SysVendor == "QEMU" || d.BoardVendor == "QEMU" || strings.HasPrefix(d.BIOSVendor, "QEMU")
}
