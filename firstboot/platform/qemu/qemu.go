// Package qemu reads a node's metadata from QEMU's firmware configuration
// device (fw_cfg), where `kiln run` and plain QEMU users put it with
//
//	qemu-system-x86_64 ... -fw_cfg name=opt/kiln/metadata,file=node.yaml
//
// The guest kernel's qemu_fw_cfg module exposes each item as
// /sys/firmware/qemu_fw_cfg/by_name/<name>/raw. The module is not always
// loaded at first boot, so Metadata runs `modprobe qemu_fw_cfg` once when
// the directory is missing.
//
// QEMU has no channel from guest to host besides devices: status goes to
// the serial console only (see package console), so this platform is not a
// platform.StatusReporter.
//
//	p := qemu.New(qemu.Options{})
//	md, err := p.Metadata(ctx)
package qemu

import (
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// ItemName is the fw_cfg item that carries kiln metadata.
const ItemName = "opt/kiln/metadata"

// FWCfgDir is where the qemu_fw_cfg module exposes the device, under root.
const FWCfgDir = "sys/firmware/qemu_fw_cfg"

// Options configure the QEMU platform.
type Options struct {
	Root   string         // prefix for /sys; "" = /
	Runner command.Runner // runs modprobe; nil = command.ExecRunner
}

// Platform reads the opt/kiln/metadata fw_cfg item.
type Platform struct {
	root   string
	runner command.Runner
}

// New returns the QEMU platform.
func New(opts Options) *Platform {
	p := &Platform{root: opts.Root, runner: opts.Runner}
	if p.runner == nil {
		p.runner = command.ExecRunner{}
	}
	return p
}

// Name returns "qemu".
func (p *Platform) Name() string { return "qemu" }

// EnsureFWCfg loads qemu_fw_cfg when root/sys/firmware/qemu_fw_cfg is
// missing and reports whether the directory is there afterwards.
func EnsureFWCfg(ctx context.Context, root string, r command.Runner) (bool, error) {
	dir := filepath.Join(root, FWCfgDir)
	if _, err := os.Stat(dir); err == nil {
		return true, nil
	}
	if r == nil {
		r = command.ExecRunner{}
	}
	if _, err := r.Run(ctx, "modprobe", "qemu_fw_cfg"); err != nil {
		return false, fmt.Errorf("loading qemu_fw_cfg: %w", err)
	}
	_, err := os.Stat(dir)
	return err == nil, nil
}

// Metadata returns the content of the opt/kiln/metadata item.
func (p *Platform) Metadata(ctx context.Context) ([]byte, error) {
	ok, err := EnsureFWCfg(ctx, p.root, p.runner)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no fw_cfg device (%s missing after loading qemu_fw_cfg): %w", "/"+FWCfgDir, platform.ErrNoMetadata)
	}
	path := filepath.Join(p.root, FWCfgDir, "by_name", ItemName, "raw")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fw_cfg has no %s item: %w", ItemName, platform.ErrNoMetadata)
	}
	if err != nil {
		return nil, fmt.Errorf("opening fw_cfg item %s: %w", ItemName, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, platform.MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading fw_cfg item %s: %w", ItemName, err)
	}
	if len(b) > platform.MaxMetadataSize {
		return nil, &platform.BadMetadataError{Where: "fw_cfg " + ItemName, Err: fmt.Errorf("over the %d byte limit", platform.MaxMetadataSize)}
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("fw_cfg item %s is empty: %w", ItemName, platform.ErrNoMetadata)
	}
	return b, nil
}
