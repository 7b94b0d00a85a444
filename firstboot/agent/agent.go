package agent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/kiln-build/kiln/firstboot/certrenew"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/host"
	"github.com/kiln-build/kiln/firstboot/imageset"
)

// Platform is where the node's metadata comes from. It has the method set of
// firstboot/platform's Platform, so every platform there serves.
type Platform interface {
	Name() string
	// Metadata returns the raw YAML or JSON document.
	Metadata(ctx context.Context) ([]byte, error)
}

// StatusReporter is a channel back to whoever made the VM (vSphere
// guestinfo.kiln.status, a GCE guest attribute). A Platform that has one
// implements it; so may extra sinks in Options.Reporters.
type StatusReporter interface {
	ReportStatus(ctx context.Context, statusJSON []byte) error
}

// SecretScrubber is a Platform that can blank its copy of the metadata
// once the agent has stored it (vSphere guestinfo stays readable).
type SecretScrubber interface {
	ScrubMetadata(ctx context.Context) error
}

// Clock tells the time and waits; tests give a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Limits bound how long and how often the agent retries. A step that
// exhausts them fails the node with a message saying what to do.
type Limits struct {
	// Attempts is how often an ordinary step (a command that may fail
	// transiently) is tried.
	Attempts int
	// JoinAttempts is how often kubeadm join (and init) are tried, with a
	// kubeadm reset -f between tries; control planes that join together
	// are refused by etcd while another member is being added.
	JoinAttempts int
	// Backoff is the first pause between attempts; it doubles up to
	// MaxBackoff, each pause scaled by a random factor in [0.5, 1.5).
	Backoff, MaxBackoff time.Duration
	// Poll is the pause between checks while waiting.
	Poll time.Duration
	// WaitAddress bounds the wait for the node's own address, WaitEndpoint
	// the wait for the control-plane endpoint (the first control plane may
	// take long to come up), WaitAPIServer the wait for this node's own API
	// server after an interrupted init, WaitReady the wait for the node to
	// become Ready.
	WaitAddress, WaitEndpoint, WaitAPIServer, WaitReady time.Duration
}

// DefaultLimits are the limits used for zero fields of Options.Limits.
var DefaultLimits = Limits{
	Attempts:      4,
	JoinAttempts:  10,
	Backoff:       5 * time.Second,
	MaxBackoff:    2 * time.Minute,
	Poll:          5 * time.Second,
	WaitAddress:   5 * time.Minute,
	WaitEndpoint:  2 * time.Hour,
	WaitAPIServer: 10 * time.Minute,
	WaitReady:     30 * time.Minute,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.Attempts, d.Attempts)
	set(&l.JoinAttempts, d.JoinAttempts)
	setD(&l.Backoff, d.Backoff)
	setD(&l.MaxBackoff, d.MaxBackoff)
	setD(&l.Poll, d.Poll)
	setD(&l.WaitAddress, d.WaitAddress)
	setD(&l.WaitEndpoint, d.WaitEndpoint)
	setD(&l.WaitAPIServer, d.WaitAPIServer)
	setD(&l.WaitReady, d.WaitReady)
	return l
}

// Options configure an Agent. Only Platform is required.
type Options struct {
	// Root is the node's filesystem; "" means /. Commands always act on
	// the live system and name paths as the node sees them, so a root
	// other than / is for dry runs and tests.
	Root     string
	Platform Platform
	// Interface is the node's network interface when the metadata names
	// none; "" means the first Ethernet device under Root's /sys/class/net.
	Interface string
	// Runner runs commands; nil means command.ExecRunner.
	Runner command.Runner
	// Sethostname sets the kernel's host name; nil means sethostname(2).
	Sethostname func(name string) error
	// Health probes API servers; nil means HTTPS trusting the cluster CA
	// from the metadata.
	Health HealthChecker
	// Addrs lists the addresses the node holds, by interface; nil means
	// the live system's (net.Interfaces).
	Addrs func() (map[string][]netip.Addr, error)
	// Console receives one KILN-STATUS line per status (the unit sends
	// the agent's standard output to the serial console and the journal).
	Console io.Writer
	// Reporters are more status sinks; the Platform is one too when it
	// implements StatusReporter.
	Reporters []StatusReporter
	// OnStatus, when set, sees every status as it is reported.
	OnStatus func(config.Status)
	// Wrote, when set, is told every file the agent writes (node path).
	Wrote func(path string, mode fs.FileMode)
	// Log receives progress; nil discards it.
	Log   *slog.Logger
	Clock Clock
	// Rand returns numbers in [0, 1) for backoff jitter; nil means math/rand/v2.
	Rand   func() float64
	Limits Limits
	// DryRun runs the plan without effects beyond files under Root: Runner
	// is expected not to run anything, waits check once and go on, no
	// state, status file, done marker or platform status is written and
	// the platform's metadata is not scrubbed.
	DryRun bool
}

// Agent takes one node from its metadata to a Kubernetes node.
type Agent struct {
	opts   Options
	lim    Limits
	clock  Clock
	log    *slog.Logger
	host   *host.Host // node files the plan writes, commands
	files  *host.Host // the agent's own state files, never reported
	state  *State
	cfg    *config.NodeConfig
	node   string // for statuses before the metadata is read
	health HealthChecker
	n      nodeFacts
	// runStart is when this run began (the metadata step's start).
	runStart time.Time
	// images is the image set the image was built with (imageset.Path); nil
	// means the defaults of lb and cni and kubeadm's own images.
	images *imageset.Set
}

// doneMessage says what first boot achieved. It says Ready only when the
// ready step asked the API server and the kubelet had reported Ready: a dry
// run asks nothing, and with no pod network the node stays NotReady.
func (a *Agent) doneMessage(steps []step) string {
	role := string(a.cfg.Node.Role)
	waited := slices.ContainsFunc(steps, func(s step) bool { return s.name == "ready" })
	switch {
	case a.opts.DryRun:
		return "dry run: nothing was run; node " + a.cfg.Node.Name + " would be a " + role + " once its kubelet reports Ready"
	case !waited:
		return "node " + a.cfg.Node.Name + " is a " + role + "; it stays NotReady until a pod network is installed (cni: none)"
	}
	return "ready: node " + a.cfg.Node.Name + " is a Ready " + role + " (its kubelet reports Ready)"
}

// nodeFacts are what the plan derives from the metadata and the machine.
type nodeFacts struct {
	bootstrap bool   // peers[0]: runs kubeadm init
	iface     string // the node's interface
	addr      string // the node's address ("" for a DHCP worker)
	endpoint  string // VIP:port
	lbIface   string
}

// New checks opts and returns an Agent.
func New(opts Options) (*Agent, error) {
	if opts.Platform == nil {
		return nil, errors.New("agent: no platform to read metadata from")
	}
	a := &Agent{opts: opts, lim: opts.Limits.withDefaults(), clock: opts.Clock, log: opts.Log}
	if a.clock == nil {
		a.clock = realClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.opts.Rand == nil {
		a.opts.Rand = rand.Float64
	}
	a.host = &host.Host{Root: opts.Root, Runner: loggingRunner{opts.Runner, a.log}, Sethostname: opts.Sethostname, Wrote: opts.Wrote, DryRun: opts.DryRun}
	a.files = &host.Host{Root: opts.Root}
	return a, nil
}

// loggingRunner logs every command before running it.
type loggingRunner struct {
	r   command.Runner
	log *slog.Logger
}

func (l loggingRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	l.log.Info("running", "cmd", command.Line(name, args...))
	r := l.r
	if r == nil {
		r = command.ExecRunner{}
	}
	return r.Run(ctx, name, args...)
}

// Failure is why the agent stopped: the step, what went wrong and what a
// person can do about it. Invalid metadata is a Failure of step metadata
// whose Err holds the *config.Error values naming the fields.
type Failure struct {
	Step string
	Err  error
	Hint string
}

func (f *Failure) Error() string {
	s := f.Step + ": " + f.Err.Error()
	if f.Hint != "" {
		s += " (" + f.Hint + ")"
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

// Run takes the node through every step not yet done, reporting each, and
// marks it done. It returns a *Failure when a step gives up (after
// reporting phase failed), or ctx's error when ctx ends (reporting
// nothing: the machine is going down, and the next boot resumes).
func (a *Agent) Run(ctx context.Context) error {
	if !a.opts.DryRun && Done(a.opts.Root) {
		a.log.Info("first boot already done", "marker", DoneFile)
		return nil
	}
	a.runStart = a.clock.Now()
	st, err := LoadState(a.opts.Root)
	if err != nil {
		return a.fail(ctx, &Failure{Step: "state", Err: err, Hint: "remove " + StateFile + " to start over"})
	}
	if a.opts.DryRun {
		st = &State{Version: stateVersion, Steps: map[string]*StepState{}}
	}
	a.state = st
	a.node = st.Node
	if st.FirstStart.IsZero() {
		st.startedAt(a.clock.Now())
		if !a.opts.DryRun {
			// Best effort: the metadata step saves it too, and a node that
			// cannot write its state fails there, saying so.
			if err := saveState(a.files, st); err != nil {
				a.log.Warn("saving the agent's first start", "error", err)
			}
		}
	}

	a.report(ctx, config.PhaseMetadata, "metadata: reading the node's metadata from "+a.opts.Platform.Name(), "")
	if err := a.loadMetadata(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.fail(ctx, err)
	}
	steps, err := a.plan()
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Step: "plan", Err: err, Hint: "fix the node's metadata and reboot"}
		}
		return a.fail(ctx, f)
	}
	for _, s := range steps {
		if a.state.done(s.name) {
			a.log.Info("step already done", "step", s.name)
			continue
		}
		a.report(ctx, s.phase, s.name+": "+s.msg, "")
		if err := a.runStep(ctx, s); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return a.fail(ctx, err)
		}
	}
	final := a.status(config.PhaseDone, a.doneMessage(steps), "")
	final.Timings, final.Milestones = a.timings(steps)
	if e, ok, err := certrenew.Earliest(a.host); err == nil && ok {
		final.CertExpiry = &e
	}
	a.send(ctx, final)
	if a.opts.DryRun {
		return nil
	}
	if err := a.files.WriteFile(DoneFile, []byte(a.clock.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return a.fail(ctx, &Failure{Step: "done", Err: err})
	}
	return nil
}

// Plan returns the steps the node will take, in order, as "phase step:
// description" lines, after reading and checking the metadata. Nothing is
// run or written.
func (a *Agent) Plan(ctx context.Context) ([]string, error) {
	a.state = &State{Version: stateVersion, Steps: map[string]*StepState{}}
	dry := a.opts.DryRun
	a.opts.DryRun = true // do not store or scrub the metadata
	defer func() { a.opts.DryRun = dry }()
	if err := a.loadMetadata(ctx); err != nil {
		return nil, err
	}
	steps, err := a.plan()
	if err != nil {
		return nil, err
	}
	out := []string{string(config.PhaseMetadata) + " metadata: read, decode and validate the node's metadata"}
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s %s: %s", s.phase, s.name, s.msg))
	}
	return append(out, string(config.PhaseDone)+" done: mark the node done ("+DoneFile+")"), nil
}

func (a *Agent) fail(ctx context.Context, err error) error {
	var f *Failure
	if !errors.As(err, &f) {
		f = &Failure{Step: "agent", Err: err}
	}
	a.report(ctx, config.PhaseFailed, "stopped at step "+f.Step, f.Error())
	return f
}

// report sends one status everywhere it goes.
func (a *Agent) report(ctx context.Context, phase config.Phase, msg, errMsg string) {
	a.send(ctx, a.status(phase, msg, errMsg))
}

// status is a status at the clock's time, with the seconds since the
// agent first started.
func (a *Agent) status(phase config.Phase, msg, errMsg string) config.Status {
	now := a.clock.Now()
	s := config.Status{Node: a.node, Phase: phase, Message: msg, Error: errMsg, Time: now.UTC().Truncate(time.Second)}
	if a.state != nil && !a.state.FirstStart.IsZero() {
		s.Elapsed = config.Seconds(now.Sub(a.state.FirstStart))
	}
	return s
}

// timings lists when the metadata step and each step of the plan ran, and
// the milestones seen, in seconds since the agent first started.
func (a *Agent) timings(steps []step) ([]config.StepTiming, map[string]float64) {
	since := func(t time.Time) float64 { return config.Seconds(t.Sub(a.state.FirstStart)) }
	var out []config.StepTiming
	for _, s := range append([]step{{name: "metadata", phase: config.PhaseMetadata}}, steps...) {
		st := a.state.Steps[s.name]
		if st == nil || st.Started.IsZero() || st.Done.IsZero() {
			continue
		}
		out = append(out, config.StepTiming{Step: s.name, Phase: s.phase, Start: since(st.Started), End: since(st.Done),
			Seconds: config.Seconds(st.Done.Sub(st.Started)), Attempts: st.Attempts})
	}
	var ms map[string]float64
	for name, t := range a.state.Milestones {
		if ms == nil {
			ms = map[string]float64{}
		}
		ms[name] = since(t)
	}
	return out, ms
}

// send sends s everywhere it goes. A sink that fails is logged and
// skipped: reporting must never stop the node.
func (a *Agent) send(ctx context.Context, s config.Status) {
	if s.Phase == config.PhaseFailed {
		a.log.Error("failed", "phase", s.Phase, "error", s.Error)
	} else {
		a.log.Info(s.Message, "phase", s.Phase)
	}
	if a.opts.OnStatus != nil {
		a.opts.OnStatus(s)
	}
	if a.opts.Console != nil {
		if _, err := io.WriteString(a.opts.Console, s.StatusLine()+"\n"); err != nil {
			a.log.Warn("writing status to the console", "error", err)
		}
	}
	if a.opts.DryRun {
		return
	}
	data, _ := json.Marshal(s) // a Status always marshals
	if err := a.files.WriteFile(StatusFile, append(data, '\n'), 0o644); err != nil {
		a.log.Warn("writing the status file", "error", err)
	}
	sinks := a.opts.Reporters
	if r, ok := a.opts.Platform.(StatusReporter); ok {
		sinks = append([]StatusReporter{r}, sinks...)
	}
	for _, r := range sinks {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := r.ReportStatus(rctx, data); err != nil {
			a.log.Warn("reporting status", "error", err)
		}
		cancel()
	}
}

// loadMetadata reads, checks and keeps the metadata. On a resumed boot the
// copy kept under MetadataCopy wins: the node finishes with the document it
// started with, even after the platform's was scrubbed or changed.
func (a *Agent) loadMetadata(ctx context.Context) error {
	var raw []byte
	var err error
	fromCopy := false
	if a.state.done("metadata") {
		raw, err = a.files.ReadFile(MetadataCopy)
		fromCopy = err == nil
	}
	if !fromCopy {
		raw, err = a.opts.Platform.Metadata(ctx)
		if err != nil && ctx.Err() == nil {
			// A crash after scrubbing and before recording the step leaves
			// only the copy.
			if kept, kerr := a.files.ReadFile(MetadataCopy); kerr == nil {
				a.log.Warn("the platform has no metadata; using the copy kept on the node", "platform", a.opts.Platform.Name(), "error", err)
				raw, err, fromCopy = kept, nil, true
			}
		}
		if err != nil {
			return &Failure{Step: "metadata", Err: fmt.Errorf("reading metadata from %s: %w", a.opts.Platform.Name(), err),
				Hint: "give the VM its kiln metadata (docs/metadata.md, Delivery channels) and reboot"}
		}
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		return &Failure{Step: "metadata", Err: fmt.Errorf("invalid metadata: %w", err), Hint: "fix the named fields and reboot"}
	}
	if fromCopy && !a.state.done("join") && credentialStale(cfg, a.clock.Now()) {
		// The node stopped before it joined and its credential has
		// expired since: take a refreshed document from the platform
		// (kiln metadata --refresh) if one is there.
		if fresh, freshRaw := a.refreshedMetadata(ctx, cfg.Node.Name); fresh != nil {
			a.log.Info("the kept metadata's credential has expired; using the platform's refreshed document", "platform", a.opts.Platform.Name())
			cfg, raw, fromCopy = fresh, freshRaw, false
		}
	}
	a.cfg = cfg
	a.node = cfg.Node.Name
	if err := a.checkMetadata(); err != nil {
		return &Failure{Step: "metadata", Err: err, Hint: "fix the named fields and reboot"}
	}
	if a.opts.Health != nil {
		a.health = a.opts.Health
	} else if a.health, err = NewHTTPSHealthChecker(cfg.Cluster.Secrets.KubernetesCA.Cert, 5*time.Second); err != nil {
		return &Failure{Step: "metadata", Err: err}
	}
	if fromCopy || a.opts.DryRun {
		return nil
	}
	if err := a.files.WriteFile(MetadataCopy, raw, 0o600); err != nil {
		return &Failure{Step: "metadata", Err: err}
	}
	a.state.Node = cfg.Node.Name
	// The step began when this run did: reading the platform can take
	// long (a NoCloud volume, GCE's metadata server).
	a.state.step("metadata").Started = a.runStart.UTC()
	a.state.step("metadata").Done = a.clock.Now().UTC()
	a.state.step("metadata").Attempts = 1
	if err := a.save(); err != nil {
		return err
	}
	// Scrub only once the copy and the state say where the document is.
	if s, ok := a.opts.Platform.(SecretScrubber); ok {
		if err := s.ScrubMetadata(ctx); err != nil {
			// The node can still form its cluster; the secrets stay where
			// they were delivered, which the person should know.
			a.log.Warn("could not scrub the metadata from the platform; it still holds the cluster secrets", "platform", a.opts.Platform.Name(), "error", err)
		}
	}
	return nil
}

// refreshedMetadata returns the platform's document when it is for node and
// its credential has not expired; nil otherwise.
func (a *Agent) refreshedMetadata(ctx context.Context, node string) (*config.NodeConfig, []byte) {
	raw, err := a.opts.Platform.Metadata(ctx)
	if err != nil {
		return nil, nil
	}
	cfg, err := config.Parse(raw)
	if err != nil || cfg.Node.Name != node || credentialStale(cfg, a.clock.Now()) {
		return nil, nil
	}
	return cfg, raw
}

// checkMetadata checks what Validate leaves to the agent: that the CAs are
// valid now and that the Ignition config uses only what the agent applies.
func (a *Agent) checkMetadata() error {
	s := a.cfg.Cluster.Secrets
	now := a.clock.Now()
	certs := []struct {
		field, pem string
	}{{"cluster.secrets.kubernetesCA.cert", s.KubernetesCA.Cert}}
	if s.FrontProxyCA != nil {
		certs = append(certs, struct{ field, pem string }{"cluster.secrets.frontProxyCA.cert", s.FrontProxyCA.Cert})
	}
	if s.EtcdCA != nil {
		certs = append(certs, struct{ field, pem string }{"cluster.secrets.etcdCA.cert", s.EtcdCA.Cert})
	}
	for _, c := range certs {
		cert, err := config.ParseCertificatePEM(c.pem)
		if err != nil {
			return &config.Error{Field: c.field, Msg: err.Error()}
		}
		if msg := validity(cert, now); msg != "" {
			return &config.Error{Field: c.field, Msg: msg}
		}
	}
	if len(a.cfg.Ignition) > 0 {
		if _, err := host.ParseIgnition(a.cfg.Ignition); err != nil {
			return err
		}
	}
	return nil
}

func validity(c *x509.Certificate, now time.Time) string {
	switch {
	case now.Before(c.NotBefore):
		return fmt.Sprintf("not valid before %s (is the node's clock right? it says %s)", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

func (a *Agent) save() error {
	if a.opts.DryRun {
		return nil
	}
	if err := saveState(a.files, a.state); err != nil {
		return &Failure{Step: "state", Err: err, Hint: "check that " + StateDir + " is writable"}
	}
	return nil
}

// addrs lists the node's addresses by interface.
func (a *Agent) addrs() (map[string][]netip.Addr, error) {
	if a.opts.Addrs != nil {
		return a.opts.Addrs()
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Addr{}
	for _, i := range ifs {
		as, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, x := range as {
			if n, ok := x.(*net.IPNet); ok {
				if ad, ok := netip.AddrFromSlice(n.IP); ok {
					out[i.Name] = append(out[i.Name], ad.Unmap())
				}
			}
		}
	}
	return out, nil
}
