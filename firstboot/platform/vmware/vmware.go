package vmware

import (
	"context"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"strings"
	"sync"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// Guestinfo keys kiln uses.
const (
	KeyMetadata = "guestinfo.kiln.metadata"
	KeyEncoding = "guestinfo.kiln.metadata.encoding"
	KeyStatus   = "guestinfo.kiln.status"
)

// scrubbed is what ScrubMetadata writes: the VMX does not take an empty
// value from the guest, and a blank reads back as "no metadata".
const scrubbed = " "

// Options configure a VMware platform. The zero value is the real thing.
type Options struct {
	Root string // prefix for /sys (DMI), "" = /
	// RPC overrides the transport. nil = the backdoor when DMI says VMware
	// and the backdoor answers, else vmware-rpctool through Runner.
	RPC    RPC
	Runner command.Runner // for vmware-rpctool; nil = command.ExecRunner
	// SecretKeys are extra guestinfo keys ScrubMetadata blanks, besides
	// guestinfo.kiln.metadata (e.g. a key carrying a join token).
	SecretKeys []string
}

// Platform reads guestinfo.kiln.metadata. It implements
// platform.StatusReporter and platform.SecretScrubber.
type Platform struct {
	opts Options
	once sync.Once
	rpc  RPC
}

// New returns the VMware platform. It touches nothing until first used.
func New(opts Options) *Platform { return &Platform{opts: opts} }

// Name returns "vmware".
func (p *Platform) Name() string { return "vmware" }

// transport picks the RPC once: the backdoor is only probed when DMI says
// this is a VMware VM, because on other hardware the backdoor's I/O
// instruction faults.
func (p *Platform) transport() RPC {
	p.once.Do(func() {
		if p.opts.RPC != nil {
			p.rpc = p.opts.RPC
			return
		}
		if d, err := platform.ReadDMI(p.opts.Root); err == nil && d.IsVMware() {
			if b := openBackdoor(); b != nil {
				p.rpc = b
				return
			}
		}
		p.rpc = RPCTool{Runner: p.opts.Runner}
	})
	return p.rpc
}

// blank reports a value that holds nothing: unset, blank, or the "---"
// cloud-init writes when it redacts a key.
func blank(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || v == "---"
}

// Metadata reads and decodes guestinfo.kiln.metadata.
func (p *Platform) Metadata(ctx context.Context) ([]byte, error) {
	rpc := p.transport()
	v, ok, err := rpc.Get(ctx, KeyMetadata)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", KeyMetadata, err)
	}
	if !ok || blank(v) {
		return nil, fmt.Errorf("%s is not set: %w", KeyMetadata, platform.ErrNoMetadata)
	}
	enc, _, err := rpc.Get(ctx, KeyEncoding)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", KeyEncoding, err)
	}
	md, err := Decode(v, enc)
	if err != nil {
		return nil, err
	}
	if len(md) == 0 {
		return nil, fmt.Errorf("%s decodes to nothing: %w", KeyMetadata, platform.ErrNoMetadata)
	}
	return md, nil
}

// ReportStatus sets guestinfo.kiln.status to statusJSON on one line.
func (p *Platform) ReportStatus(ctx context.Context, statusJSON []byte) error {
	line, err := platform.CompactStatus(statusJSON)
	if err != nil {
		return fmt.Errorf("reporting status: %w", err)
	}
	if err := p.transport().Set(ctx, KeyStatus, string(line)); err != nil {
		return fmt.Errorf("reporting status: %w", err)
	}
	return nil
}

// ScrubMetadata blanks guestinfo.kiln.metadata, its encoding key and every
// SecretKeys entry, then reads each back to make sure the VMX took it (a VM
// with isolation.tools.setinfo.disable set refuses guest writes).
func (p *Platform) ScrubMetadata(ctx context.Context) error {
	rpc := p.transport()
	keys := append([]string{KeyMetadata, KeyEncoding}, p.opts.SecretKeys...)
	for _, k := range keys {
		if err := rpc.Set(ctx, k, scrubbed); err != nil {
			return fmt.Errorf("scrubbing %s: %w", k, err)
		}
		v, ok, err := rpc.Get(ctx, k)
		if err != nil {
			return fmt.Errorf("checking %s after scrubbing: %w", k, err)
		}
		if ok && !blank(v) {
			return fmt.Errorf("scrubbing %s: value still set after info-set", k)
		}
	}
	return nil
}
