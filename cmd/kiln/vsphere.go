package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/builder/vsphere"
	"github.com/kiln-build/kiln/builder/vsphere/ovafile"
)

// vsphereFlags are the connection flags of `kiln vsphere`; each one not
// given falls back to its govc environment variable.
type vsphereFlags struct {
	url, username, password, caCerts             string
	insecure                                     bool
	datacenter, datastore, network, pool, folder string
}

// vsphereFlagNames maps Settings fields to the flags that set them.
var vsphereFlagNames = map[string]string{
	"URL": "--url", "Username": "--username", "Password": "--password", "Insecure": "--insecure",
	"CACerts": "--tls-ca-certs", "Datacenter": "--datacenter", "Datastore": "--datastore",
	"Network": "--network", "ResourcePool": "--resource-pool", "Folder": "--folder",
}

func newVSphereCommand() *cobra.Command {
	f := &vsphereFlags{}
	cmd := &cobra.Command{
		Use:   "vsphere",
		Short: "Upload images to vSphere as templates; clone, watch and remove cluster nodes",
		Long: `Put kiln images and clusters on VMware vSphere: upload an OVA as a template,
clone a cluster bundle's nodes from it with each node's metadata in guestinfo,
watch the nodes' first boot, and remove them.

The connection is configured as for govc: GOVC_URL, GOVC_USERNAME,
GOVC_PASSWORD, GOVC_INSECURE, GOVC_TLS_CA_CERTS, GOVC_DATACENTER,
GOVC_DATASTORE, GOVC_NETWORK, GOVC_RESOURCE_POOL and GOVC_FOLDER; each can be
overridden by the flag of the same name. Prefer GOVC_PASSWORD to --password,
which other users of the machine can see in the process list. kiln never
prints the password. See docs/vsphere.md.`,
		Example: `  export GOVC_URL=vc.example.com GOVC_USERNAME=admin@vsphere.local GOVC_PASSWORD=...
  kiln vsphere upload out/rocky9-k8s.ova --name rocky9-k8s --snapshot
  kiln vsphere clone --template rocky9-k8s --cluster prod/ --linked
  kiln vsphere status --cluster prod/ --wait`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "vCenter URL or host name (env GOVC_URL)")
	pf.StringVar(&f.username, "username", "", "user to log in as (env GOVC_USERNAME)")
	pf.StringVar(&f.password, "password", "", "password (env GOVC_PASSWORD; prefer the variable)")
	pf.BoolVar(&f.insecure, "insecure", false, "do not verify vCenter's certificate (env GOVC_INSECURE)")
	pf.StringVar(&f.caCerts, "tls-ca-certs", "", "PEM file of CAs to trust (env GOVC_TLS_CA_CERTS)")
	pf.StringVar(&f.datacenter, "datacenter", "", "datacenter (env GOVC_DATACENTER; default: the only one)")
	pf.StringVar(&f.datastore, "datastore", "", "datastore for new VMs (env GOVC_DATASTORE; default: the only one)")
	pf.StringVar(&f.network, "network", "", "network for the VMs' NIC (env GOVC_NETWORK; upload default: the only one)")
	pf.StringVar(&f.pool, "resource-pool", "", "resource pool, e.g. CLUSTER/Resources (env GOVC_RESOURCE_POOL; default: the only one)")
	pf.StringVar(&f.folder, "folder", "", "VM folder; kiln also looks for VMs by name only under it, though clone looks for a cluster's nodes in the whole datacenter (env GOVC_FOLDER)")
	cmd.AddCommand(newVSphereUploadCommand(f), newVSphereCloneCommand(f), newVSphereStatusCommand(f), newVSphereScrubCommand(f), newVSphereDestroyCommand(f))
	return cmd
}

// settings are the environment's, overridden by the flags given.
func (f *vsphereFlags) settings(cmd *cobra.Command) vsphere.Settings {
	s := vsphere.SettingsFromEnv(os.Getenv)
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("url", &s.URL, f.url)
	set("username", &s.Username, f.username)
	if cmd.Flags().Changed("password") {
		s.Password = vsphere.Secret(f.password)
	}
	if cmd.Flags().Changed("insecure") {
		s.Insecure = f.insecure
	}
	set("tls-ca-certs", &s.CACerts, f.caCerts)
	set("datacenter", &s.Datacenter, f.datacenter)
	set("datastore", &s.Datastore, f.datastore)
	set("network", &s.Network, f.network)
	set("resource-pool", &s.ResourcePool, f.pool)
	set("folder", &s.Folder, f.folder)
	return s
}

func (f *vsphereFlags) connect(ctx context.Context, cmd *cobra.Command) (*vsphere.Client, error) {
	c, err := vsphere.Connect(ctx, f.settings(cmd))
	if err != nil {
		return nil, vsphereError(err)
	}
	return c, nil
}

// vsphereError names the flag beside the environment variable in a
// setting's error: `datastore "x" (--datastore or GOVC_DATASTORE): not found`.
func vsphereError(err error) error {
	var ce *vsphere.CertificateError
	if errors.As(err, &ce) {
		msg := strings.Replace(err.Error(), "GOVC_TLS_CA_CERTS=FILE.pem", "--tls-ca-certs FILE.pem or GOVC_TLS_CA_CERTS", 1)
		return errors.New(strings.Replace(msg, "GOVC_INSECURE=1", "--insecure or GOVC_INSECURE=1", 1))
	}
	var se *vsphere.SettingError
	if !errors.As(err, &se) {
		return err
	}
	env := vsphere.EnvName(se.Field)
	msg := strings.Replace(err.Error(), "("+env, "("+vsphereFlagNames[se.Field]+" or "+env, 1)
	return usageError{errors.New(msg)}
}

// onCluster is the skeleton of the commands that act on a cluster's VMs
// (clone, status, scrub, destroy): -o and --cluster checked, then the
// command's own checks, the bundle read, all before a connection to vCenter
// is opened for run and closed after it.
func onCluster[T any](f *vsphereFlags, cmd *cobra.Command, output, dir string, checks func() error, load func() (T, error),
	run func(ctx context.Context, c *vsphere.Client, v T) error) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if dir == "" {
		return usageError{errors.New("--cluster is required")}
	}
	if err := checks(); err != nil {
		return err
	}
	v, err := load()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	c, err := f.connect(ctx, cmd)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return run(ctx, c, v)
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return usageError{fmt.Errorf("--output %q: want text or json", output)}
	}
	return nil
}

func isTerminal(v any) bool {
	f, ok := fileOf(v)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newVSphereUploadCommand(f *vsphereFlags) *cobra.Command {
	var name, output string
	var snapshot, replace bool
	cmd := &cobra.Command{
		Use:   "upload OVA",
		Short: "Upload an OVA as a template (checked against its manifest first)",
		Long: `Check the OVA's files against its manifest (SHA-256 digests, locally, before
anything is sent), import it into the datastore, resource pool, folder and
network of the connection settings, and mark it a template. --snapshot also
takes the snapshot linked clones start from.

The OVA's SHA-256 is recorded on the template (extraConfig
guestinfo.kiln.image.sha256), so uploading the same OVA again does nothing.
Another OVA under an existing name is refused unless --replace: the new
template is made under a temporary name, then takes the name, and the old
one is removed. A name held by a VM kiln did not upload is never touched.`,
		Example: `  kiln vsphere upload out/rocky9-k8s.ova --name rocky9-k8s --snapshot
  kiln vsphere upload out/rocky9-k8s.ova --name rocky9-k8s --snapshot --replace -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("want one OVA file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			path := args[0]
			if name == "" {
				name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
			}
			ctx := cmd.Context()
			errw := cmd.ErrOrStderr()
			quiet := output == "json"
			say := func(format string, a ...any) {
				if !quiet {
					fmt.Fprintf(errw, "==> "+format+"\n", a...)
				}
			}
			say("checking %s against its manifest", filepath.Base(path))
			a, err := ovafile.Open(ctx, path)
			if err != nil {
				return err
			}
			c, err := f.connect(ctx, cmd)
			if err != nil {
				return err
			}
			defer c.Close(context.WithoutCancel(ctx))
			bar := &byteBar{w: errw, tty: !quiet && isTerminal(errw), label: "uploading"}
			res, err := c.Upload(ctx, a, vsphere.UploadOptions{
				Name: name, Snapshot: snapshot, Replace: replace,
				Step:     func(s string) { bar.finish(); say("%s", s) },
				Progress: bar.update,
			})
			bar.finish()
			if err != nil {
				if errors.Is(err, vsphere.ErrTemplateExists) {
					return usageError{err}
				}
				return vsphereError(err)
			}
			if output == "json" {
				return writeJSON(cmd, res)
			}
			w := cmd.OutOrStdout()
			switch res.Action {
			case vsphere.Unchanged:
				fmt.Fprintf(w, "%s: unchanged, it already holds %s (sha256 %s)", res.Name, filepath.Base(path), res.SHA256)
			case vsphere.Replaced:
				fmt.Fprintf(w, "%s: replaced (sha256 %s, was %s)", res.Name, res.SHA256, res.ReplacedSHA256)
			default:
				fmt.Fprintf(w, "%s: imported %s (sha256 %s)", res.Name, filepath.Base(path), res.SHA256)
			}
			if res.Snapshot != "" {
				fmt.Fprintf(w, ", snapshot %s", res.Snapshot)
			}
			fmt.Fprintln(w)
			for _, warn := range res.Warnings {
				fmt.Fprintf(errw, "kiln: warning: %s\n", warn)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "template name (default: the OVA's file name without .ova)")
	fl.BoolVar(&snapshot, "snapshot", false, "take the snapshot linked clones need ("+vsphere.SnapshotName+")")
	fl.BoolVar(&replace, "replace", false, "replace a template of another OVA under the same name")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// byteBar draws an upload's progress on a terminal, at most ten times a
// second.
type byteBar struct {
	w     io.Writer
	tty   bool
	label string
	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func (b *byteBar) update(done, total int64) {
	if !b.tty {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if done < total && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	fmt.Fprintf(b.w, "\r\033[K    %s: %.1f/%.1f MiB (%.0f%%)", b.label, float64(done)/(1<<20), float64(total)/(1<<20), pct)
	b.drawn = true
}

func (b *byteBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

func newVSphereCloneCommand(f *vsphereFlags) *cobra.Command {
	var (
		o              vsphere.CloneOptions
		dir, output    string
		powerOn        bool
		cpus, mem, dsk int
	)
	cmd := &cobra.Command{
		Use:   "clone",
		Short: "Create a cluster bundle's nodes as clones of a template, with their metadata",
		Long: `Create a VM for each node of the cluster bundle (or each --node), named after
the node (with --prefix before it), as a clone of the template, with the
node's metadata in guestinfo.kiln.metadata (gzip+base64), in the folder,
resource pool and datastore of the connection settings (and on --network,
when given). Then power them on: all VMs are created first, so the first
control plane starts with its peers.

VMs that already exist are left alone, so after "kiln cluster add-node" the
same command creates just the new nodes. Each VM carries the bundle's ID and
CA hash and its node's name in extraConfig (not secret), and a node is
recognised by them under any VM name, in any folder of the datacenter: a
node that exists under another name (another --prefix, a rename) stops the
run before anything is created, so a cluster is never cloned twice. A
separate cluster needs its own bundle (kiln cluster new). A VM that has a
node's name but is not that node stops the run too.

--linked makes linked clones: a child disk over the template's snapshot
(upload it with --snapshot). They are made in seconds and take little space,
but share the template's disk and cannot grow it: --disk-size needs full
clones.`,
		Example: `  kiln vsphere clone --template rocky9-k8s --cluster prod/ --linked
  kiln vsphere clone --template rocky9-k8s --cluster prod/ --cpus 4 --memory 8192 --disk-size 80
  kiln cluster add-node --cluster prod/ --worker w4=10.31.100.104
  kiln vsphere clone --template rocky9-k8s --cluster prod/ --linked   # creates w4 only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onCluster(f, cmd, output, dir, func() error {
				if o.Template == "" {
					return usageError{errors.New("--template is required")}
				}
				for _, v := range []struct {
					flag string
					n    int
				}{{"--cpus", cpus}, {"--memory", mem}, {"--disk-size", dsk}} {
					if v.n < 0 {
						return usageError{fmt.Errorf("%s %d: want a positive number", v.flag, v.n)}
					}
				}
				if mem%4 != 0 {
					return usageError{fmt.Errorf("--memory %d: want a multiple of 4 MiB", mem)}
				}
				if err := checkCredentialTTL(o.CredentialTTL); err != nil {
					return err
				}
				o.CPUs, o.MemoryMiB, o.DiskGiB, o.PowerOn = cpus, mem, dsk, powerOn
				return nil
			}, func() (*cluster.Bundle, error) { return loadBundle(dir, o.Nodes) }, func(ctx context.Context, c *vsphere.Client, b *cluster.Bundle) error {
				errw := cmd.ErrOrStderr()
				live := output != "json" && isTerminal(errw)
				var mu sync.Mutex
				o.Report = func(r vsphere.NodeResult) {
					if !live || r.Action == vsphere.Exists {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					fmt.Fprintf(errw, "    %s: %s\n", r.Node, r.Action)
				}
				res, err := c.Clone(ctx, b, o)
				if res == nil && err != nil {
					return cloneError(err)
				}
				if jerr := showNodeResults(cmd, output, res); jerr != nil {
					return jerr
				}
				return cloneError(err)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Template, "template", "", "template to clone, required")
	fl.StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	fl.StringArrayVar(&o.Nodes, "node", nil, "clone only this node; repeat (default: every node)")
	fl.StringVar(&o.Prefix, "prefix", "", "put this before each node's name to name its VM")
	fl.BoolVar(&o.Linked, "linked", false, "linked clones from the template's snapshot (fast, small; the disk cannot grow)")
	fl.IntVar(&cpus, "cpus", 0, "virtual CPUs (default: the template's)")
	fl.IntVar(&mem, "memory", 0, "memory in MiB (default: the template's)")
	fl.IntVar(&dsk, "disk-size", 0, "grow the disk to this many GiB (full clones only; the guest grows its root filesystem)")
	fl.BoolVar(&powerOn, "power-on", true, "power on the VMs created")
	credentialTTLFlag(fl, &o.CredentialTTL)
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// cloneError makes refusals that are the user's to fix usage errors.
func cloneError(err error) error {
	var fe *vsphere.ForeignVMError
	var de *vsphere.DuplicateNodeError
	if errors.As(err, &fe) || errors.As(err, &de) {
		return usageError{err}
	}
	return vsphereError(err)
}

// showNodeResults prints what clone, scrub or destroy did to each node,
// as -o asks.
func showNodeResults(cmd *cobra.Command, output string, res []vsphere.NodeResult) error {
	if output == "json" {
		return writeJSON(cmd, res)
	}
	printNodeResults(cmd.OutOrStdout(), res)
	return nil
}

func printNodeResults(w io.Writer, res []vsphere.NodeResult) {
	for _, r := range res {
		var what string
		switch r.Action {
		case vsphere.Exists:
			what = "exists, left alone"
			if r.PowerState != "" && r.PowerState != "poweredOn" {
				what += " (" + r.PowerState + ")"
			}
		case vsphere.Created:
			what = "created"
			if r.PowerState == "poweredOn" {
				what += ", powered on"
			}
		case vsphere.Absent:
			what = "no VM"
		case vsphere.Skipped:
			what = "skipped, its secrets stay in the VM configuration"
		default:
			what = string(r.Action)
		}
		if r.VM != r.Node {
			what = "VM " + r.VM + " " + what
		}
		if r.Error != "" {
			what += ": " + r.Error
		}
		fmt.Fprintf(w, "%s: %s\n", r.Node, what)
	}
}

func newVSphereStatusCommand(f *vsphereFlags) *cobra.Command {
	var (
		dir, output string
		o           vsphere.WaitOptions
		wait, keep  bool
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each node's VM and first-boot progress; --wait until the cluster is up",
		Long: `Show every node of the cluster bundle: its VM's power state, its IP address (as
VMware Tools reports it) and the first-boot phase and message the node's
agent last reported in guestinfo.kiln.status.

--wait polls until every node is done (exit 0), or one has failed (exit 1,
with that node's message), or --timeout passes (exit 1, naming the nodes
not done). While it waits, it clears each node's metadata from its VM's
configuration (guestinfo.kiln.metadata: the bootstrap token and a control
plane's CA keys) as soon as that node is done, as kiln vsphere scrub does;
--keep-metadata leaves it there.`,
		Example: `  kiln vsphere status --cluster prod/
  kiln vsphere status --cluster prod/ --wait --timeout 30m
  kiln vsphere status --cluster prod/ -o json | jq -r '.[] | select(.phase != "done") | .node'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onCluster(f, cmd, output, dir, func() error {
				if timeout <= 0 {
					return usageError{fmt.Errorf("--timeout %s: want a positive duration", timeout)}
				}
				if keep && !wait {
					return usageError{errors.New("--keep-metadata only means something with --wait")}
				}
				return nil
			}, func() (*cluster.Spec, error) { return loadSpec(dir, o.Nodes) }, func(ctx context.Context, c *vsphere.Client, spec *cluster.Spec) error {
				var st []vsphere.NodeStatus
				var err error
				if !wait {
					st, err = c.Status(ctx, spec, o.StatusOptions)
					if err != nil {
						return vsphereError(err)
					}
				} else {
					wctx, cancel := context.WithTimeout(ctx, timeout)
					defer cancel()
					live := &liveStatus{w: cmd.ErrOrStderr(), tty: isTerminal(cmd.ErrOrStderr()), quiet: output == "json"}
					o.Update = live.update
					o.Scrub = !keep
					st, err = c.Wait(wctx, spec, o)
					live.done()
					if st == nil {
						return vsphereError(err)
					}
				}
				if output == "json" {
					if jerr := writeJSON(cmd, st); jerr != nil {
						return jerr
					}
				} else {
					printStatus(cmd.OutOrStdout(), st)
					if held := vsphere.HoldingSecrets(st); len(held) > 0 {
						fmt.Fprintf(cmd.ErrOrStderr(), "secrets (the bootstrap token, a control plane's CA keys) are still in the VM configuration of: %s; kiln vsphere scrub --cluster %s --wait clears each once its first boot is done\n",
							strings.Join(held, ", "), dir)
					}
				}
				return vsphereError(err)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	fl.StringArrayVar(&o.Nodes, "node", nil, "show only this node; repeat")
	fl.StringVar(&o.Prefix, "prefix", "", "the prefix the VMs were cloned with")
	fl.BoolVar(&wait, "wait", false, "wait until every node is done, or one fails, clearing each node's metadata from its VM as it is done")
	fl.BoolVar(&keep, "keep-metadata", false, "with --wait, leave done nodes' metadata (and its secrets) in their VM configuration")
	fl.DurationVar(&timeout, "timeout", 30*time.Minute, "how long --wait waits")
	fl.DurationVar(&o.Interval, "interval", 5*time.Second, "how often --wait looks")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func statusRows(st []vsphere.NodeStatus) [][]string {
	rows := [][]string{{"NODE", "ROLE", "VM", "POWER", "IP", "PHASE", "SECRETS", "MESSAGE"}}
	for _, s := range st {
		power, phase, msg := s.PowerState, string(s.Phase), s.Message
		if !s.Exists {
			power = "no VM"
		}
		if phase == "" && s.Exists && !s.Foreign {
			phase = "-"
		}
		if s.Error != "" {
			msg = s.Error
		}
		if s.Problem != "" {
			msg = s.Problem
		}
		secrets := "-"
		switch {
		case s.Secrets:
			secrets = "in VM"
		case s.Exists && !s.Foreign:
			secrets = "cleared"
		}
		rows = append(rows, []string{s.Node, string(s.Role), s.VM, power, dash(s.IP), dash(phase), secrets, msg})
	}
	return rows
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printStatus(w io.Writer, st []vsphere.NodeStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range statusRows(st) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// liveStatus shows a wait's progress on stderr: the table redrawn in place
// on a terminal, else a line per change.
type liveStatus struct {
	w     io.Writer
	tty   bool
	quiet bool
	lines int
	seen  map[string]string
}

func (l *liveStatus) update(st []vsphere.NodeStatus) {
	if l.quiet {
		return
	}
	if l.tty {
		var buf strings.Builder
		printStatus(&buf, st)
		if l.lines > 0 {
			fmt.Fprintf(l.w, "\033[%dA", l.lines)
		}
		out := strings.ReplaceAll(buf.String(), "\n", "\033[K\n")
		fmt.Fprint(l.w, out)
		l.lines = strings.Count(out, "\n")
		return
	}
	if l.seen == nil {
		l.seen = map[string]string{}
	}
	for _, s := range st {
		line := statusLine(s)
		if l.seen[s.Node] != line {
			l.seen[s.Node] = line
			fmt.Fprintf(l.w, "%s %s\n", time.Now().Format("15:04:05"), line)
		}
	}
}

func statusLine(s vsphere.NodeStatus) string {
	r := statusRows([]vsphere.NodeStatus{s})[1]
	line := fmt.Sprintf("%s: %s, %s", s.Node, r[3], r[5])
	if r[7] != "" {
		line += ": " + r[7]
	}
	return line
}

// done clears the live table; the final one goes to stdout.
func (l *liveStatus) done() {
	if l.tty && l.lines > 0 && !l.quiet {
		fmt.Fprintf(l.w, "\033[%dA\033[J", l.lines)
	}
}

func newVSphereDestroyCommand(f *vsphereFlags) *cobra.Command {
	var (
		dir, output string
		o           vsphere.DestroyOptions
		yes         bool
	)
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Power off and delete a cluster bundle's VMs (for test clusters)",
		Long: `Power off and delete the VMs of the cluster bundle's nodes (or each --node),
with their disks. It asks first unless --yes; when stdin is not a terminal
(CI), --yes is required. Only VMs kiln cloned for this cluster are deleted:
a VM with a node's name that kiln did not clone stops the run before
anything is deleted. The template is not touched.`,
		Example: `  kiln vsphere destroy --cluster test/
  kiln vsphere destroy --cluster test/ --node w4 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onCluster(f, cmd, output, dir, func() error {
				if !yes && !isTerminal(cmd.InOrStdin()) {
					return usageError{errors.New("stdin is not a terminal to confirm on; pass --yes to destroy without asking")}
				}
				return nil
			}, func() (*cluster.Spec, error) { return loadSpec(dir, o.Nodes) }, func(ctx context.Context, c *vsphere.Client, spec *cluster.Spec) error {
				if !yes {
					st, err := c.Status(ctx, spec, vsphere.StatusOptions{Nodes: o.Nodes, Prefix: o.Prefix})
					if err != nil {
						return vsphereError(err)
					}
					var vms []string
					for _, s := range st {
						if s.Foreign {
							return usageError{fmt.Errorf("%s: %s", s.VM, s.Problem)}
						}
						if s.Exists {
							vms = append(vms, s.VM)
						}
					}
					if len(vms) == 0 {
						fmt.Fprintf(cmd.OutOrStdout(), "cluster %s has no VMs to destroy\n", spec.Name)
						return nil
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "Destroy %d VMs of cluster %s in %s (%s)? Type yes to go on: ", len(vms), spec.Name, c.Datacenter(), strings.Join(vms, " "))
					line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
					if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
						return errors.New("not confirmed; nothing destroyed")
					}
				}
				res, err := c.Destroy(ctx, spec, o)
				if res == nil && err != nil {
					return cloneError(err)
				}
				if jerr := showNodeResults(cmd, output, res); jerr != nil {
					return jerr
				}
				return vsphereError(err)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	fl.StringArrayVar(&o.Nodes, "node", nil, "destroy only this node's VM; repeat")
	fl.StringVar(&o.Prefix, "prefix", "", "the prefix the VMs were cloned with")
	fl.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func newVSphereScrubCommand(f *vsphereFlags) *cobra.Command {
	var (
		dir, output string
		o           vsphere.ScrubOptions
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scrub --cluster DIR",
		Short: "Clear guestinfo.kiln.metadata (CA keys, token) from nodes whose first boot is done",
		Long: `Scrub clears guestinfo.kiln.metadata from the configuration of the cluster's
VMs whose first boot is done. It holds every node's bootstrap token and a
control plane's CA keys; the agent keeps its own copy and blanks the value
inside the guest, but the VM's configuration in vCenter keeps it until it is
cleared from this side.

A node still booting is skipped (--force clears it anyway; it can then no
longer start over from its metadata), as is a node whose first boot failed.
Each line says what happened to a node; when any node asked for still holds
its secrets at the end, scrub names them and exits 1. --wait finishes the
job: it clears each node as its first boot completes, until every node is
done or failed, or --timeout passes.`,
		Example: `  kiln vsphere scrub --cluster prod/ --wait --timeout 30m
  kiln vsphere status --cluster prod/ --wait && kiln vsphere scrub --cluster prod/
  kiln vsphere scrub --cluster prod/ --node w4 --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onCluster(f, cmd, output, dir, func() error {
				if timeout <= 0 {
					return usageError{fmt.Errorf("--timeout %s: want a positive duration", timeout)}
				}
				return nil
			}, func() (*cluster.Spec, error) { return loadSpec(dir, o.Nodes) }, func(ctx context.Context, c *vsphere.Client, spec *cluster.Spec) error {
				sctx := ctx
				if o.Wait {
					var cancel context.CancelFunc
					sctx, cancel = context.WithTimeout(ctx, timeout)
					defer cancel()
					if errw := cmd.ErrOrStderr(); output != "json" && isTerminal(errw) {
						o.Report = func(r vsphere.NodeResult) { printNodeResults(errw, []vsphere.NodeResult{r}) }
					}
				}
				res, err := c.Scrub(sctx, spec, o)
				if res == nil && err != nil {
					return vsphereError(err)
				}
				if jerr := showNodeResults(cmd, output, res); jerr != nil {
					return jerr
				}
				var ns *vsphere.NotScrubbedError
				if errors.As(err, &ns) && !o.Wait {
					return fmt.Errorf("%w (kiln vsphere scrub --cluster %s --wait clears each as its first boot completes)", err, dir)
				}
				return vsphereError(err)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	fl.StringArrayVar(&o.Nodes, "node", nil, "scrub only this node's VM; repeat")
	fl.StringVar(&o.Prefix, "prefix", "", "the prefix the VMs were cloned with")
	fl.BoolVar(&o.Force, "force", false, "also clear nodes whose first boot is not done")
	fl.BoolVar(&o.Wait, "wait", false, "wait for nodes still booting and clear each as it is done")
	fl.DurationVar(&timeout, "timeout", 30*time.Minute, "how long --wait waits")
	fl.DurationVar(&o.Interval, "interval", 5*time.Second, "how often --wait looks")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// loadBundle reads the whole cluster bundle, keys included, for clone,
// and checks that every --node names one of its nodes.
func loadBundle(dir string, nodes []string) (*cluster.Bundle, error) {
	b, err := cluster.Load(dir)
	if err != nil {
		return nil, err
	}
	if err := checkNodes(&b.Spec, nodes); err != nil {
		return nil, err
	}
	return b, nil
}

// loadSpec reads the public part of the bundle (cluster.yaml and
// pki/ca.crt), all that status, scrub and destroy need, and checks that
// every --node names one of its nodes.
func loadSpec(dir string, nodes []string) (*cluster.Spec, error) {
	s, err := cluster.LoadSpec(dir)
	if err != nil {
		return nil, err
	}
	if err := checkNodes(s, nodes); err != nil {
		return nil, err
	}
	return s, nil
}

func checkNodes(s *cluster.Spec, nodes []string) error {
	for _, n := range nodes {
		if !slices.ContainsFunc(s.Nodes(), func(x cluster.Node) bool { return x.Name == n }) {
			return usageError{fmt.Errorf("--node %q: no such node in cluster %s (see kiln cluster show)", n, s.Name)}
		}
	}
	return nil
}
