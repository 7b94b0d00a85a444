package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/certrenew"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/host"
)

// runRenew is `kiln-firstboot renew-certs`, which kiln-cert-renew.service
// runs daily on control planes: renew kubeadm's certificates when the
// earliest expires within 30 days, restart the static pods, report.
//
//	kiln-firstboot renew-certs
//	kiln-firstboot renew-certs --dry-run --root /tmp/n1 --now 2027-11-20T03:00:00Z
func runRenew(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("kiln-firstboot renew-certs", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("root", "/", "the node's filesystem `DIR` (a dry run needs one, and never /)")
	dryRun := fl.Bool("dry-run", false, "run nothing: print what would be run and moved")
	nowFlag := fl.String("now", "", "with --dry-run, the `TIME` (RFC 3339) to act at, to see what the timer will do then")
	version := fl.Bool("version", false, "print the version and exit")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "kiln-firstboot renew-certs: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if *version {
		printVersion(stdout)
		return 0
	}
	clock := fixedOrReal{}
	if *nowFlag != "" {
		if !*dryRun {
			fmt.Fprintln(stderr, "kiln-firstboot renew-certs: --now is for --dry-run only")
			return 2
		}
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(stderr, "kiln-firstboot renew-certs: --now %q: want RFC 3339, e.g. 2027-11-20T03:00:00Z\n", *nowFlag)
			return 2
		}
		clock.at = &t
	}
	if *dryRun {
		if err := checkDryRunRoot(fl, *root); err != nil {
			fmt.Fprintf(stderr, "kiln-firstboot renew-certs: %v\n", err)
			return 2
		}
	}
	files := &host.Host{Root: *root}
	raw, err := files.ReadFile(agent.MetadataCopy)
	if err != nil {
		fmt.Fprintf(stderr, "kiln-firstboot renew-certs: reading the node's metadata: %v\n", err)
		return 1
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		fmt.Fprintf(stderr, "kiln-firstboot renew-certs: %s: %s\n", agent.MetadataCopy, oneLine(err))
		return 1
	}
	status := config.Status{Node: cfg.Node.Name, Phase: config.PhaseDone}
	report := func(msg, errMsg string, e *certrenew.Expiry) {
		status.Message, status.Error, status.CertExpiry = msg, errMsg, e
		status.Time = clock.Now().UTC().Truncate(time.Second)
		fmt.Fprintln(stdout, status.StatusLine())
		if *dryRun {
			return
		}
		// The status file keeps first boot's final status, with the new
		// expiry, so that what the node says about itself stays current.
		var kept config.Status
		if data, err := files.ReadFile(agent.StatusFile); err == nil && json.Unmarshal(data, &kept) == nil && kept.Phase == config.PhaseDone {
			kept.CertExpiry = e
			if data, err := json.Marshal(kept); err == nil {
				_ = files.WriteFile(agent.StatusFile, append(data, '\n'), 0o644)
			}
		}
	}
	if cfg.Node.Role != config.RoleControlPlane {
		report("certificates: nothing to renew on a worker: its kubelet rotates its own client certificate", "", nil)
		return 0
	}
	var addr string
	for _, p := range cfg.Cluster.ControlPlane.Peers {
		if p.Name == cfg.Node.Name {
			addr = p.Address
		}
	}
	r := certrenew.Renewer{Clock: clock, Address: addr}
	h := &host.Host{Root: *root, DryRun: *dryRun}
	if *dryRun {
		plan := &planPrinter{w: stdout}
		h.Runner = plan
		h.Wrote = func(p string, _ fs.FileMode) { plan.printf("  write %s\n", p) }
		r.Healthy = plan.Healthy
		fmt.Fprintf(stdout, "kiln-firstboot renew-certs dry run: root %s, at %s; nothing is run, files move under the root\n", *root, clock.Now().UTC().Format(time.RFC3339))
	} else {
		hc, err := agent.NewHTTPSHealthChecker(cfg.Cluster.Secrets.KubernetesCA.Cert, 5*time.Second)
		if err != nil {
			fmt.Fprintf(stderr, "kiln-firstboot renew-certs: %v\n", err)
			return 1
		}
		r.Healthy = hc.Healthy
	}
	r.Node = h
	res, err := r.Run(ctx)
	if err != nil {
		report("certificates: renewal failed", err.Error(), res.Before)
		fmt.Fprintf(stderr, "kiln-firstboot renew-certs: %s\n", oneLine(err))
		return 1
	}
	switch {
	case res.Renewed:
		report(fmt.Sprintf("certificates: renewed (%s was to expire at %s); static pods restarted", res.Before.Name, res.Before.NotAfter.Format(time.RFC3339)), "", res.After)
	default:
		report(fmt.Sprintf("certificates: valid until %s (%s); renewal starts %s before", res.Before.NotAfter.Format(time.RFC3339), res.Before.Name, "30 days"), "", res.Before)
	}
	return 0
}

// fixedOrReal is the real clock, or with at set a fixed time that a
// dry run's pauses do not move.
type fixedOrReal struct{ at *time.Time }

func (c fixedOrReal) Now() time.Time {
	if c.at != nil {
		return *c.at
	}
	return time.Now()
}

func (c fixedOrReal) Sleep(ctx context.Context, d time.Duration) error {
	if c.at != nil {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
