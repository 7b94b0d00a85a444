package detect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/detect"
)

type tree struct {
	t    *testing.T
	root string
}

func (tr tree) write(path string, b []byte) {
	tr.t.Helper()
	p := filepath.Join(tr.root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr tree) dmi(vendor, product string) {
	tr.write("sys/class/dmi/id/sys_vendor", []byte(vendor+"\n"))
	tr.write("sys/class/dmi/id/product_name", []byte(product+"\n"))
}

func (tr tree) fwcfgItem() {
	tr.write("sys/firmware/qemu_fw_cfg/by_name/opt/kiln/metadata/raw", []byte("a: 1\n"))
}

// cidata lays out a by-label link; detection only checks the link resolves.
func (tr tree) cidata() {
	tr.write("dev/sr0", []byte("image"))
	dir := filepath.Join(tr.root, "dev/disk/by-label")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink("../../sr0", filepath.Join(dir, "cidata")); err != nil {
		tr.t.Fatal(err)
	}
}

// runner fakes modprobe: loading qemu_fw_cfg exposes an fw_cfg item when
// item is set.
type runner struct {
	tr    tree
	item  bool
	calls []string
}

func (r *runner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, name+" "+strings.Join(args, " "))
	if r.item {
		r.tr.fwcfgItem()
	} else {
		r.tr.write("sys/firmware/qemu_fw_cfg/by_name/etc/boot-fail-wait/raw", []byte{0})
	}
	return nil, nil
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(tr tree)
		modprobe  bool // the fake module exposes the kiln item
		filePath  string
		want      string
		modprobes int
	}{
		{"vsphere", func(tr tree) { tr.dmi("VMware, Inc.", "VMware Virtual Platform"); tr.cidata() }, false, "", "vmware", 0},
		{"gce", func(tr tree) { tr.dmi("Google", "Google Compute Engine") }, false, "", "gce", 0},
		{"qemu fw_cfg loaded", func(tr tree) { tr.dmi("QEMU", "Standard PC (Q35 + ICH9, 2009)"); tr.fwcfgItem(); tr.cidata() }, false, "", "qemu", 0},
		{"qemu fw_cfg after modprobe", func(tr tree) { tr.dmi("QEMU", "Standard PC (i440FX + PIIX, 1996)"); tr.cidata() }, true, "", "qemu", 1},
		{"qemu with cidata", func(tr tree) { tr.dmi("QEMU", "Standard PC (i440FX + PIIX, 1996)"); tr.cidata() }, false, "", "nocloud", 1},
		{"qemu with custom smbios and fw_cfg", func(tr tree) { tr.dmi("Acme", "Node"); tr.fwcfgItem() }, false, "", "qemu", 0},
		{"bare metal with cidata", func(tr tree) { tr.dmi("Dell Inc.", "PowerEdge R640"); tr.cidata() }, false, "", "nocloud", 0},
		{"bare metal with file", func(tr tree) {
			tr.dmi("Dell Inc.", "PowerEdge R640")
			tr.write("etc/kiln/metadata.yaml", []byte("a: 1\n"))
		}, false, "", "file", 0},
		{"custom file path", func(tr tree) { tr.write("srv/node.yaml", []byte("a: 1\n")) }, false, "/srv/node.yaml", "file", 0},
		{"qemu with nothing", func(tr tree) { tr.dmi("QEMU", "Standard PC") }, false, "", "qemu", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tree{t: t, root: t.TempDir()}
			tt.setup(tr)
			r := &runner{tr: tr, item: tt.modprobe}
			p, err := detect.Detect(context.Background(), detect.Options{Root: tr.root, Runner: r, FilePath: tt.filePath})
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != tt.want {
				t.Errorf("Detect = %s, want %s", p.Name(), tt.want)
			}
			if len(r.calls) != tt.modprobes {
				t.Errorf("ran %q, want %d modprobe", r.calls, tt.modprobes)
			}
		})
	}
}

func TestNotDetected(t *testing.T) {
	tr := tree{t: t, root: t.TempDir()}
	tr.dmi("Dell Inc.", "PowerEdge R640")
	_, err := detect.Detect(context.Background(), detect.Options{Root: tr.root, Runner: &runner{tr: tr}})
	if !errors.Is(err, platform.ErrNotDetected) || !strings.Contains(err.Error(), "Dell Inc.") {
		t.Errorf("Detect = %v, want ErrNotDetected naming the vendor", err)
	}
}

func TestNew(t *testing.T) {
	for _, n := range detect.Names() {
		p, err := detect.New(n, detect.Options{})
		if err != nil || p.Name() != n {
			t.Errorf("New(%q) = %v, %v", n, p, err)
		}
	}
	if !slices.IsSorted(detect.Names()) {
		t.Error("Names is not sorted")
	}
	_, err := detect.New("azure", detect.Options{})
	if err == nil || !strings.Contains(err.Error(), "file, gce, nocloud, qemu, vmware") {
		t.Errorf("New(azure) = %v, want an error listing the names", err)
	}
}

// TestOptionalInterfaces pins which platforms have a back channel and which
// hold secrets to scrub, as the agent discovers them by type assertion.
func TestOptionalInterfaces(t *testing.T) {
	for _, tt := range []struct {
		name             string
		reporter, scrubs bool
	}{
		{"vmware", true, true}, {"gce", true, false}, {"nocloud", false, false}, {"qemu", false, false}, {"file", false, false},
	} {
		p, err := detect.New(tt.name, detect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, r := p.(platform.StatusReporter)
		_, s := p.(platform.SecretScrubber)
		if r != tt.reporter || s != tt.scrubs {
			t.Errorf("%s: StatusReporter %v SecretScrubber %v, want %v %v", tt.name, r, s, tt.reporter, tt.scrubs)
		}
	}
}
