package platform_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
)

func writeDMI(t *testing.T, root string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(root, "sys/class/dmi/id")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadDMI(t *testing.T) {
	// Values as real machines report them (from /sys/class/dmi/id).
	tests := []struct {
		name                string
		files               map[string]string
		vmware, gce, qemu   bool
		wantVendor, product string
	}{
		{"vsphere", map[string]string{"sys_vendor": "VMware, Inc.", "product_name": "VMware Virtual Platform", "bios_vendor": "Phoenix Technologies LTD"}, true, false, false, "VMware, Inc.", "VMware Virtual Platform"},
		{"vsphere-efi", map[string]string{"sys_vendor": "VMware, Inc.", "product_name": "VMware7,1", "bios_vendor": "VMware, Inc."}, true, false, false, "VMware, Inc.", "VMware7,1"},
		{"gce", map[string]string{"sys_vendor": "Google", "product_name": "Google Compute Engine", "bios_vendor": "Google"}, false, true, false, "Google", "Google Compute Engine"},
		{"qemu-q35", map[string]string{"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)", "bios_vendor": "SeaBIOS"}, false, false, true, "QEMU", "Standard PC (Q35 + ICH9, 2009)"},
		{"bare-metal", map[string]string{"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R640"}, false, false, false, "Dell Inc.", "PowerEdge R640"},
		{"no-dmi", nil, false, false, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.files != nil {
				writeDMI(t, root, tt.files)
			}
			d, err := platform.ReadDMI(root)
			if err != nil {
				t.Fatal(err)
			}
			if d.SysVendor != tt.wantVendor || d.ProductName != tt.product {
				t.Errorf("ReadDMI = %+v, want vendor %q product %q", d, tt.wantVendor, tt.product)
			}
			if d.IsVMware() != tt.vmware || d.IsGCE() != tt.gce || d.IsQEMU() != tt.qemu {
				t.Errorf("%+v: IsVMware %v IsGCE %v IsQEMU %v, want %v %v %v", d, d.IsVMware(), d.IsGCE(), d.IsQEMU(), tt.vmware, tt.gce, tt.qemu)
			}
		})
	}
}

func TestReadDMIUnreadable(t *testing.T) {
	root := t.TempDir()
	// A directory where a file is expected is a read error, not "absent".
	if err := os.MkdirAll(filepath.Join(root, "sys/class/dmi/id/sys_vendor"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := platform.ReadDMI(root); err == nil {
		t.Fatal("ReadDMI succeeded on a directory named sys_vendor")
	}
}

func TestBadMetadataError(t *testing.T) {
	inner := errors.New("illegal base64 data at input byte 4")
	err := error(&platform.BadMetadataError{Where: "guestinfo.kiln.metadata", Err: inner})
	if got, want := err.Error(), "guestinfo.kiln.metadata: illegal base64 data at input byte 4"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Error("BadMetadataError does not unwrap to its cause")
	}
}

func TestCompactStatus(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`{"phase":"init","ok":true}`, `{"phase":"init","ok":true}`, true},
		{"{\n  \"phase\": \"join\",\n  \"msg\": \"a b\\nc\"\n}\n", `{"phase":"join","msg":"a b\nc"}`, true},
		{`["not","an","object"]`, "", false},
		{`{"phase":`, "", false},
		{``, "", false},
		{`{"a":1} {"b":2}`, "", false},
	}
	for _, tt := range tests {
		got, err := platform.CompactStatus([]byte(tt.in))
		if (err == nil) != tt.ok || string(got) != tt.want {
			t.Errorf("CompactStatus(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
