package main

import (
	"context"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"io"
	"io/fs"
	"net/netip"

	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/config"
)

// planPrinter is everything with effects in a dry run: it prints each
// status (a step starting), each file written and each command, in order,
// and runs nothing.
type planPrinter struct {
	w   io.Writer
	err error // the first write error
}

func (p *planPrinter) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *planPrinter) use(o *agent.Options) {
	o.Runner = p
	o.Health = p
	o.Sethostname = func(name string) error { p.printf("  sethostname %s\n", name); return nil }
	o.Addrs = func() (map[string][]netip.Addr, error) { return nil, nil }
	o.OnStatus = func(s config.Status) {
		if s.Phase == config.PhaseFailed {
			p.printf("[%s] %s: %s\n", s.Phase, s.Message, s.Error)
			return
		}
		p.printf("[%s] %s\n", s.Phase, s.Message)
	}
	o.Wrote = func(path string, mode fs.FileMode) {
		if mode&fs.ModeSymlink != 0 {
			p.printf("  link %s\n", path)
			return
		}
		p.printf("  write %s (%#o)\n", path, mode.Perm())
	}
}

// Run prints the command.
func (p *planPrinter) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	p.printf("  $ %s\n", command.Line(name, args...))
	return nil, nil
}

// Healthy prints the probe; a dry run does not wait for it.
func (p *planPrinter) Healthy(_ context.Context, endpoint string) error {
	p.printf("  ? GET https://%s/healthz (a dry run does not wait)\n", endpoint)
	return nil
}
