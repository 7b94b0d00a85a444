package nocloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// DefaultFileName is the file read from the cidata volume.
const DefaultFileName = "kiln.yaml"

// Options configure the NoCloud platform.
type Options struct {
	Root     string // prefix for /dev and /sys; "" = /
	FileName string // "" = DefaultFileName
}

// Platform reads kiln.yaml from a volume labelled cidata. It has no status
// channel: progress goes to the serial console only.
type Platform struct {
	root, name string
}

// New returns the NoCloud platform.
func New(opts Options) *Platform {
	p := &Platform{root: opts.Root, name: opts.FileName}
	if p.name == "" {
		p.name = DefaultFileName
	}
	return p
}

// Name returns "nocloud".
func (p *Platform) Name() string { return "nocloud" }

// Metadata finds the cidata volume and reads the metadata file from it.
// No volume, or a volume without the file, is platform.ErrNoMetadata. The
// device may appear a little after boot (udev); callers that want to wait
// call Metadata again.
func (p *Platform) Metadata(ctx context.Context) ([]byte, error) {
	dev, ok, err := FindVolume(ctx, p.root)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no volume labelled cidata: %w", platform.ErrNoMetadata)
	}
	b, err := readDeviceFile(dev, p.name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: %w", dev, p.name, platform.ErrNoMetadata)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", p.name, dev, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("%s on %s is empty: %w", p.name, dev, platform.ErrNoMetadata)
	}
	return b, nil
}

func readDeviceFile(dev, name string) ([]byte, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd) // Stat reports 0 for block devices
	if err != nil {
		return nil, err
	}
	return ReadFile(f, size, name)
}

// FindVolume returns the path (under root) of a volume labelled cidata or
// CIDATA: first from root/dev/disk/by-label (udev's symlinks), then by
// probing every block device listed in root/sys/class/block, in name
// order. Devices that cannot be opened (an empty CD drive) are skipped.
func FindVolume(ctx context.Context, root string) (string, bool, error) {
	byLabel := filepath.Join(root, "dev/disk/by-label")
	for _, l := range []string{"cidata", "CIDATA"} {
		if dev, ok := resolveLink(root, filepath.Join(byLabel, l)); ok {
			return dev, true, nil
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, "sys/class/block"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("listing block devices: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		if sz, err := os.ReadFile(filepath.Join(root, "sys/class/block", n, "size")); err == nil && strings.TrimSpace(string(sz)) == "0" {
			continue // no medium
		}
		dev := filepath.Join(root, "dev", n)
		if l, err := deviceLabel(dev); err == nil && strings.EqualFold(l, "cidata") {
			return dev, true, nil
		}
	}
	return "", false, nil
}

// resolveLink follows a by-label entry to the device it names, keeping
// absolute targets inside root.
func resolveLink(root, link string) (string, bool) {
	fi, err := os.Lstat(link)
	if err != nil {
		return "", false
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return link, true
	}
	target, err := os.Readlink(link)
	if err != nil {
		return "", false
	}
	if filepath.IsAbs(target) {
		target = filepath.Join(root, target)
	} else {
		target = filepath.Join(filepath.Dir(link), target)
	}
	if _, err := os.Stat(target); err != nil {
		return "", false
	}
	return target, true
}

func deviceLabel(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	return VolumeLabel(f, size)
}
