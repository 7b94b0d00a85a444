// Package detect picks the metadata platform a node runs on, from the
// hardware it sees (DMI and devices under a root directory), or builds one
// by name for `kiln-firstboot --platform NAME`. It is separate from package
// platform because it imports every platform, and they import platform.
//
//	p, err := detect.Detect(ctx, detect.Options{})
//	if errors.Is(err, platform.ErrNotDetected) {
//		// ask the user for --platform
//	}
//	md, err := p.Metadata(ctx)
package detect

import (
	"context"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/file"
	"github.com/kiln-build/kiln/firstboot/platform/gce"
	"github.com/kiln-build/kiln/firstboot/platform/nocloud"
	"github.com/kiln-build/kiln/firstboot/platform/qemu"
	"github.com/kiln-build/kiln/firstboot/platform/vmware"
)

// Options carry what any platform may need; each takes the fields it uses.
type Options struct {
	Root   string         // prefix for /sys, /dev and /etc; "" = /
	Runner command.Runner // runs vmware-rpctool and modprobe; nil = command.ExecRunner
	HTTP   *http.Client   // GCE metadata server client; nil = gce's default
	// GCEBaseURL overrides the metadata server root (tests).
	GCEBaseURL string
	// FilePath is the file platform's path inside Root; "" = file.DefaultPath.
	FilePath string
	// VMwareSecretKeys are extra guestinfo keys vmware scrubs.
	VMwareSecretKeys []string
}

// Names lists the platform names New accepts, sorted.
func Names() []string { return []string{"file", "gce", "nocloud", "qemu", "vmware"} }

// New builds the platform called name.
func New(name string, o Options) (platform.Platform, error) {
	switch name {
	case "vmware":
		return vmware.New(vmware.Options{Root: o.Root, Runner: o.Runner, SecretKeys: o.VMwareSecretKeys}), nil
	case "gce":
		return gce.New(gce.Options{BaseURL: o.GCEBaseURL, HTTP: o.HTTP}), nil
	case "nocloud":
		return nocloud.New(nocloud.Options{Root: o.Root}), nil
	case "qemu":
		return qemu.New(qemu.Options{Root: o.Root, Runner: o.Runner}), nil
	case "file":
		return file.New(file.Options{Root: o.Root, Path: o.FilePath}), nil
	}
	return nil, fmt.Errorf("unknown platform %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Detect picks the platform from what the machine shows, in this order:
//
//  1. DMI says VMware: vmware.
//  2. DMI says Google Compute Engine: gce.
//  3. A QEMU fw_cfg device carries opt/kiln/metadata: qemu. On a machine
//     whose DMI says QEMU, qemu_fw_cfg is loaded first if needed.
//  4. A volume labelled cidata exists: nocloud.
//  5. The metadata file exists: file.
//  6. DMI says QEMU: qemu (whose Metadata then reports ErrNoMetadata).
//
// Nothing matching is an error wrapping platform.ErrNotDetected. Detect
// only looks: it reads no metadata and talks to no server.
func Detect(ctx context.Context, opts Options) (platform.Platform, error) {
	d, err := platform.ReadDMI(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("detecting platform: %w", err)
	}
	switch {
	case d.IsVMware():
		return New("vmware", opts)
	case d.IsGCE():
		return New("gce", opts)
	}
	if d.IsQEMU() {
		// A failed modprobe only means fw_cfg is not there to look at.
		_, _ = qemu.EnsureFWCfg(ctx, opts.Root, opts.Runner)
	}
	item := filepath.Join(opts.Root, qemu.FWCfgDir, "by_name", qemu.ItemName, "raw")
	if _, err := os.Stat(item); err == nil {
		return New("qemu", opts)
	}
	if _, ok, err := nocloud.FindVolume(ctx, opts.Root); err != nil {
		return nil, fmt.Errorf("detecting platform: %w", err)
	} else if ok {
		return New("nocloud", opts)
	}
	f := file.New(file.Options{Root: opts.Root, Path: opts.FilePath})
	if _, err := os.Stat(f.Path()); err == nil {
		return f, nil
	}
	if d.IsQEMU() {
		return New("qemu", opts)
	}
	return nil, fmt.Errorf("DMI vendor %q, product %q; no fw_cfg item, cidata volume or %s: %w",
		d.SysVendor, d.ProductName, f.Path(), platform.ErrNotDetected)
}
