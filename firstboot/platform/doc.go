// Package platform is the contract between the guest agent and the places a
// node's metadata comes from: VMware guestinfo, the GCE metadata server, a
// NoCloud cidata volume, QEMU fw_cfg or a plain file. Each source lives in
// its own sub-package and implements Platform; the detect sub-package picks
// one from the hardware (DMI) or by name.
//
// Platforms hand back the metadata as raw bytes (YAML or JSON text, already
// unwrapped from any transport encoding); decoding it into a NodeConfig is
// the agent's job. Some platforms can do more, and say so through optional
// interfaces that callers discover with a type assertion:
//
//	md, err := p.Metadata(ctx)
//	if errors.Is(err, platform.ErrNoMetadata) {
//		// first boot already consumed and scrubbed it: resume from state
//	}
//	if r, ok := p.(platform.StatusReporter); ok {
//		_ = r.ReportStatus(ctx, []byte(`{"phase":"join","ok":true}`))
//	}
//	if s, ok := p.(platform.SecretScrubber); ok {
//		_ = s.ScrubMetadata(ctx)
//	}
//
// Everything that reads /sys, /dev, /proc or /etc takes a root directory so
// tests run against a fake tree.
package platform
