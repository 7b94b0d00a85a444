package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/spf13/cobra"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create and manage cluster bundles (CAs, token, topology)",
		Long: `A cluster bundle is a directory holding a cluster's description (cluster.yaml),
its certificate authorities and service-account keys (pki/, named as kubeadm
names them) and its bootstrap token. Node metadata is derived from it with
"kiln metadata". Keep it private: it holds the cluster's CA keys.`,
		Example: `  kiln cluster new --name prod --kubernetes-version v1.34.2 --vip 10.31.100.100 \
    --control-plane m1=10.31.100.61 --control-plane m2=10.31.100.62 \
    --control-plane m3=10.31.100.63 --worker w1=10.31.100.101 -o prod/
  kiln cluster show --cluster prod/
  kiln cluster kubeconfig --cluster prod/`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newClusterNewCommand(), newClusterAddNodeCommand(), newClusterShowCommand(), newClusterKubeconfigCommand())
	return cmd
}

func newClusterNewCommand() *cobra.Command {
	var (
		o             cluster.Options
		controlPlanes []string
		workers       []string
		lbMode, cni   string
		outDir        string
		force         bool
		election      map[string]string
		probes        map[string]string
		lbCheck       map[string]string
	)
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Generate a cluster bundle: CAs, service-account keys, bootstrap token, topology",
		Long: `Generate a new cluster bundle in the directory given by -o (--out): the Kubernetes,
front-proxy and etcd CAs (RSA 2048, 10 years, as kubeadm makes them), the
service-account key pair, a bootstrap token, and cluster.yaml describing the
topology. The first --control-plane bootstraps the cluster (kubeadm init);
the others join in order.

Addressing: with --prefix, every node is configured statically with its
address/prefix, --gateway and --dns. Without it, nodes use DHCP, and each
node's address must be reserved for it.

Defaults are the usual HA topology: keepalived + haproxy serving the VIP on
port 8443 (6443 for kube-vip and external), flannel, pod subnet
10.244.0.0/16, service subnet 10.96.0.0/12.`,
		Example: `  kiln cluster new --name prod --kubernetes-version v1.34.2 --vip 10.31.100.100 \
    --control-plane m1=10.31.100.61 --control-plane m2=10.31.100.62 \
    --control-plane m3=10.31.100.63 --worker w1=10.31.100.101 \
    --prefix 24 --gateway 10.31.100.1 --dns 10.31.0.53 -o prod/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range []struct{ flag, v string }{{"--name", o.Name}, {"--kubernetes-version", o.KubernetesVersion}, {"--vip", o.VIP}, {"--out", outDir}} {
				if r.v == "" {
					return usageError{fmt.Errorf("%s is required", r.flag)}
				}
			}
			if err := checkOutPath(outDir, "directory", "kiln cluster show --cluster DIR --output json prints the bundle's topology"); err != nil {
				return err
			}
			if len(controlPlanes) == 0 {
				return usageError{errors.New("--control-plane is required (NAME=IP, once per control plane, bootstrap node first)")}
			}
			var err error
			if o.ControlPlanes, err = parsePeers("--control-plane", controlPlanes); err != nil {
				return err
			}
			if o.Workers, err = parsePeers("--worker", workers); err != nil {
				return err
			}
			if o.LeaderElection, err = parseLeaderElection(election); err != nil {
				return err
			}
			if o.Probes, err = parseProbes(probes); err != nil {
				return err
			}
			if o.LoadBalancer.HealthCheck, err = parseLBCheck(lbCheck); err != nil {
				return err
			}
			o.LoadBalancer.Mode = config.LBMode(lbMode)
			o.CNI = config.CNI(cni)
			// One NIC per node is the common case: the VRRP interface is the node's interface.
			o.LoadBalancer.Interface = o.NodeNetwork.Interface
			if o.LoadBalancer.Mode == config.LBExternal {
				o.LoadBalancer.Interface = ""
			}
			b, err := cluster.New(o)
			if err != nil {
				return optionError(err, newFlagNames, map[string][]string{"controlPlanes": controlPlanes, "workers": workers})
			}
			mode := cluster.CreateOnly
			if force {
				mode = cluster.Replace
			}
			if err := b.Write(outDir, mode); err != nil {
				if errors.Is(err, cluster.ErrExists) {
					return usageError{fmt.Errorf("%s already holds a cluster bundle; use --force to replace it (its CAs will be lost)", outDir)}
				}
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote cluster bundle %s (control planes: %d, workers: %d, CA hash %s)\n",
				outDir, len(b.Spec.ControlPlanes), len(b.Spec.Workers), b.Spec.CACertHash)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "cluster name (DNS-1123), required")
	f.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "Kubernetes release, vX.Y.Z (v1.22 or newer), required")
	f.StringVar(&o.VIP, "vip", "", "control-plane virtual IP, required")
	f.IntVar(&o.Port, "port", 0, "control-plane endpoint port (default 8443 for keepalived-haproxy, 6443 otherwise)")
	f.StringVar(&o.DNSName, "dns-name", "", "DNS name for the control-plane endpoint (added to /etc/hosts and the apiserver certificate)")
	f.StringArrayVar(&controlPlanes, "control-plane", nil, "control-plane node NAME=IP; repeat in bootstrap order, required")
	f.StringArrayVar(&workers, "worker", nil, "worker node NAME=IP; repeat")
	f.StringVar(&lbMode, "lb", string(config.DefaultLBMode), "what serves the VIP: keepalived-haproxy, kube-vip or external")
	f.IntVar(&o.LoadBalancer.VirtualRouterID, "virtual-router-id", 0, "VRRP router ID for keepalived, 1-255 (default 51)")
	f.StringVar(&o.NodeNetwork.Interface, "interface", "", "NIC name on every node, also carrying the VIP (default: detected at boot)")
	f.StringVar(&o.Networking.PodSubnet, "pod-subnet", config.DefaultPodSubnet, "pod network CIDR")
	f.StringVar(&o.Networking.ServiceSubnet, "service-subnet", config.DefaultServiceSubnet, "service network CIDR")
	f.StringVar(&o.Networking.DNSDomain, "dns-domain", config.DefaultDNSDomain, "cluster DNS domain")
	f.StringVar(&cni, "cni", string(config.DefaultCNI), "pod network add-on: flannel, calico or none")
	f.StringSliceVar(&o.NTPServers, "ntp", nil, "NTP servers (host names or IPs; repeat or comma-separate; default: the image's)")
	f.IntVar(&o.NodeNetwork.PrefixLength, "prefix", 0, "prefix length for static node addresses, e.g. 24 (default: DHCP)")
	f.StringVar(&o.NodeNetwork.Gateway, "gateway", "", "default gateway for static node addresses")
	f.StringSliceVar(&o.NodeNetwork.DNS, "dns", nil, "DNS servers for the nodes (repeat or comma-separate)")
	f.StringToStringVar(&lbCheck, "lb-check", nil, "keepalived's health check, interval=DUR,timeout=DUR,fall=N,rise=N (default 2s, 2s, 3, 2; slow hosts: interval=5s,timeout=10s,fall=6)")
	f.StringToStringVar(&probes, "probes", nil, "control-plane static pods' probes, timeout=DUR,liveness=N,startup=N (default kubeadm's 15s, 8, 24; slow hosts: timeout=60s,liveness=30,startup=90)")
	f.StringToStringVar(&election, "leader-election", nil, "controller-manager and scheduler leader election, lease=DUR,renew=DUR,retry=DUR (default 15s,10s,2s; slow hosts: lease=137s,renew=107s,retry=26s)")
	f.StringVarP(&outDir, "out", "o", "", "`DIR` to write the bundle to, required")
	deprecatedOutputPath(cmd, &outDir)
	f.BoolVar(&force, "force", false, "replace an existing bundle in the output directory")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// newFlagNames maps cluster.yaml fields to the flags that set them, so an
// error names what the user typed.
var newFlagNames = []struct{ field, flag string }{
	{"name", "--name"},
	{"kubernetesVersion", "--kubernetes-version"},
	{"controlPlaneEndpoint.vip", "--vip"},
	{"controlPlaneEndpoint.port", "--port"},
	{"controlPlaneEndpoint.dnsName", "--dns-name"},
	{"loadBalancer.mode", "--lb"},
	{"loadBalancer.interface", "--interface"},
	{"loadBalancer.virtualRouterID", "--virtual-router-id"},
	{"networking.podSubnet", "--pod-subnet"},
	{"networking.serviceSubnet", "--service-subnet"},
	{"networking.dnsDomain", "--dns-domain"},
	{"cni", "--cni"},
	{"ntpServers", "--ntp"},
	{"nodeNetwork.interface", "--interface"},
	{"nodeNetwork.prefixLength", "--prefix"},
	{"nodeNetwork.gateway", "--gateway"},
	{"nodeNetwork.dns", "--dns"},
	{"controlPlanes", "--control-plane"},
	{"workers", "--worker"},
	{"leaderElection.leaseDuration", "--leader-election lease"},
	{"leaderElection.renewDeadline", "--leader-election renew"},
	{"leaderElection.retryPeriod", "--leader-election retry"},
	{"probes.timeoutSeconds", "--probes timeout"},
	{"probes.livenessFailureThreshold", "--probes liveness"},
	{"probes.startupFailureThreshold", "--probes startup"},
	{"probes", "--probes"},
	{"loadBalancer.healthCheck.intervalSeconds", "--lb-check interval"},
	{"loadBalancer.healthCheck.timeoutSeconds", "--lb-check timeout"},
	{"loadBalancer.healthCheck.fall", "--lb-check fall"},
	{"loadBalancer.healthCheck.rise", "--lb-check rise"},
	{"loadBalancer.healthCheck", "--lb-check"},
}

// parseLBCheck reads --lb-check's interval=DUR,timeout=DUR,fall=N,rise=N;
// nil when the flag is not given. Ranges are checked with the bundle.
func parseLBCheck(kv map[string]string) (*config.LBHealthCheck, error) {
	if len(kv) == 0 {
		return nil, nil
	}
	hc := &config.LBHealthCheck{}
	return hc, parseIntFlags("--lb-check", kv, []intKey{
		{"interval", &hc.IntervalSeconds, true, "5s"}, {"timeout", &hc.TimeoutSeconds, true, "5s"},
		{"fall", &hc.Fall, false, "checks"}, {"rise", &hc.Rise, false, "checks"},
	})
}

// parseProbes reads --probes' timeout=DUR,liveness=N,startup=N; nil when
// the flag is not given. Ranges are checked with the bundle.
func parseProbes(kv map[string]string) (*config.Probes, error) {
	if len(kv) == 0 {
		return nil, nil
	}
	p := &config.Probes{}
	return p, parseIntFlags("--probes", kv, []intKey{
		{"timeout", &p.TimeoutSeconds, true, "60s"},
		{"liveness", &p.LivenessFailureThreshold, false, "failed probes"}, {"startup", &p.StartupFailureThreshold, false, "failed probes"},
	})
}

// intKey is one key of a KEY=VALUE flag that sets an int: whole seconds
// given as a duration (hint: an example), or a positive count (hint: of
// what).
type intKey struct {
	name    string
	v       *int
	seconds bool
	hint    string
}

// parseIntFlags sets each key's int from kv, naming flag and key in errors.
func parseIntFlags(flag string, kv map[string]string, keys []intKey) error {
	var names []string
	for _, k := range keys {
		names = append(names, k.name)
	}
	for k, v := range kv {
		i := slices.IndexFunc(keys, func(key intKey) bool { return key.name == k })
		if i < 0 {
			return usageError{fmt.Errorf("%s: %q is not %s or %s", flag, k, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])}
		}
		key := keys[i]
		if key.seconds {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d%time.Second != 0 {
				return usageError{fmt.Errorf("%s %s: %q is not a whole number of seconds (e.g. %s)", flag, k, v, key.hint)}
			}
			*key.v = int(d / time.Second)
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return usageError{fmt.Errorf("%s %s: %q is not a positive number of %s", flag, k, v, key.hint)}
		}
		*key.v = n
	}
	return nil
}

// parseLeaderElection reads --leader-election's lease=,renew=,retry=; nil
// when the flag is not given.
func parseLeaderElection(kv map[string]string) (*config.LeaderElection, error) {
	if len(kv) == 0 {
		return nil, nil
	}
	l := &config.LeaderElection{}
	for k, v := range kv {
		switch k {
		case "lease":
			l.LeaseDuration = v
		case "renew":
			l.RenewDeadline = v
		case "retry":
			l.RetryPeriod = v
		default:
			return nil, usageError{fmt.Errorf("--leader-election: %q is not lease, renew or retry", k)}
		}
	}
	return l, nil
}

// optionError rewrites the *config.Error values of a failed cluster.New or
// AddNode into one line naming flags: `--vip: "10.0.0.300" is not an IP address`,
// `--worker "w1=10.0.0.1": ...`. Errors it cannot map pass through unchanged.
func optionError(err error, names []struct{ field, flag string }, lists map[string][]string) error {
	var one *config.Error
	_, multi := err.(interface{ Unwrap() []error })
	if !errors.As(err, &one) || (!multi && err != error(one)) {
		return err
	}
	var parts []string
	for _, e := range config.Errors(err) {
		parts = append(parts, describeOption(e, names, lists))
	}
	return usageError{errors.New(strings.Join(parts, "; "))}
}

func describeOption(e *config.Error, names []struct{ field, flag string }, lists map[string][]string) string {
	for _, n := range names {
		rest, ok := strings.CutPrefix(e.Field, n.field)
		if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
			continue
		}
		flag := n.flag
		// controlPlanes[2].address -> --control-plane "m3=10.0.0.300"
		var i int
		if _, err := fmt.Sscanf(rest, "[%d]", &i); err == nil {
			if vals := lists[n.field]; i < len(vals) {
				flag += " " + fmt.Sprintf("%q", vals[i])
			} else if n.field == "ntpServers" || n.field == "nodeNetwork.dns" {
				flag += fmt.Sprintf(" (value %d)", i+1)
			}
		}
		return flag + ": " + e.Msg
	}
	return e.Error()
}

// parsePeers reads NAME=IP flag values.
func parsePeers(flag string, vals []string) ([]config.Peer, error) {
	var out []config.Peer
	for _, v := range vals {
		name, addr, ok := strings.Cut(v, "=")
		if !ok || name == "" || addr == "" {
			return nil, usageError{fmt.Errorf("%s %q: want NAME=IP", flag, v)}
		}
		if _, err := netip.ParseAddr(addr); err != nil {
			return nil, usageError{fmt.Errorf("%s %q: %q is not an IP address", flag, v, addr)}
		}
		out = append(out, config.Peer{Name: name, Address: addr})
	}
	return out, nil
}

func newClusterAddNodeCommand() *cobra.Command {
	var (
		dir                    string
		controlPlanes, workers []string
		metaDir                string
		ttl                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "add-node",
		Short: "Add nodes to a cluster bundle (for scale-out)",
		Long: `Add workers or control planes to a cluster bundle's cluster.yaml. New control
planes join after the existing ones. Nodes already running keep the metadata
they booted with. --metadata-dir DIR (made if missing) writes each new node's metadata to
DIR/NAME.yaml (0600); otherwise derive it with "kiln metadata". A new
worker's metadata carries a join credential valid for --credential-ttl:
the cluster needs no change for it to join, months after it formed.`,
		Example: `  kiln cluster add-node --cluster prod/ --worker w2=10.31.100.102
  kiln cluster add-node --cluster prod/ --control-plane m4=10.31.100.64
  kiln cluster add-node --cluster prod/ --worker w5=10.31.100.105 --metadata-dir new/ --credential-ttl 4h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{errors.New("--cluster is required")}
			}
			if err := checkCredentialTTL(ttl); err != nil {
				return err
			}
			if metaDir != "" {
				if fi, err := os.Stat(metaDir); err == nil && !fi.IsDir() {
					return usageError{fmt.Errorf("--metadata-dir %s: not a directory", metaDir)}
				}
			}
			if len(controlPlanes)+len(workers) == 0 {
				return usageError{errors.New("give at least one --worker or --control-plane NAME=IP")}
			}
			cps, err := parsePeers("--control-plane", controlPlanes)
			if err != nil {
				return err
			}
			ws, err := parsePeers("--worker", workers)
			if err != nil {
				return err
			}
			b, err := cluster.Load(dir)
			if err != nil {
				return err
			}
			add := func(role config.Role, flag string, peers []config.Peer, raw []string) error {
				for i, p := range peers {
					if err := b.AddNode(role, p.Name, p.Address); err != nil {
						if config.Errors(err) != nil {
							return usageError{fmt.Errorf("%s %q: %s", flag, raw[i], config.Errors(err)[0].Msg)}
						}
						return err
					}
				}
				return nil
			}
			if err := add(config.RoleControlPlane, "--control-plane", cps, controlPlanes); err != nil {
				return err
			}
			if err := add(config.RoleWorker, "--worker", ws, workers); err != nil {
				return err
			}
			if metaDir != "" {
				// It will hold node credentials: only its owner may list it.
				if err := os.MkdirAll(metaDir, 0o700); err != nil {
					return fmt.Errorf("--metadata-dir %s: %w", metaDir, err)
				}
			}
			if err := b.SaveSpec(dir); err != nil {
				return err
			}
			if metaDir != "" {
				for _, p := range append(cps, ws...) {
					nc, err := b.NodeConfigWith(p.Name, cluster.NodeOptions{CredentialTTL: ttl})
					if err != nil {
						return err
					}
					doc, err := config.MarshalYAML(nc)
					if err != nil {
						return err
					}
					if err := writeSecretFile(filepath.Join(metaDir, p.Name+".yaml"), doc); err != nil {
						return err
					}
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "cluster %s: control planes: %d, workers: %d\n", b.Spec.Name, len(b.Spec.ControlPlanes), len(b.Spec.Workers))
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	cmd.Flags().StringArrayVar(&controlPlanes, "control-plane", nil, "control-plane node NAME=IP to add; repeat")
	cmd.Flags().StringArrayVar(&workers, "worker", nil, "worker node NAME=IP to add; repeat")
	cmd.Flags().StringVar(&metaDir, "metadata-dir", "", "write each new node's metadata to DIR/NAME.yaml (0600)")
	credentialTTLFlag(cmd.Flags(), &ttl)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func newClusterShowCommand() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print a cluster bundle's topology (no secrets)",
		Example: `  kiln cluster show --cluster prod/
  kiln cluster show --cluster prod/ -o json | jq -r '.workers[].name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{errors.New("--cluster is required")}
			}
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output %q: want text or json", output)}
			}
			spec, err := cluster.LoadSpec(dir) // the public part: no key needed
			if err != nil {
				return err
			}
			if output == "json" {
				out, err := config.MarshalJSON(spec)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			return printSpec(cmd.OutOrStdout(), spec)
		},
	}
	cmd.Flags().StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func printSpec(w io.Writer, s *cluster.Spec) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ep := s.ControlPlaneEndpoint
	lb := string(s.LoadBalancer.Mode)
	if s.LoadBalancer.Mode == config.LBKeepalivedHAProxy {
		lb += fmt.Sprintf(", VRRP router %d", s.LoadBalancer.VirtualRouterID)
	}
	endpoint := netip.AddrPortFrom(netip.MustParseAddr(ep.VIP), uint16(ep.Port)).String()
	if ep.DNSName != "" {
		endpoint += " (" + ep.DNSName + ")"
	}
	addressing := "dhcp"
	if nn := s.NodeNetwork; nn.PrefixLength > 0 {
		addressing = fmt.Sprintf("static /%d", nn.PrefixLength)
		if nn.Gateway != "" {
			addressing += ", gateway " + nn.Gateway
		}
	}
	if len(s.NodeNetwork.DNS) > 0 {
		addressing += ", dns " + strings.Join(s.NodeNetwork.DNS, " ")
	}
	fmt.Fprintf(tw, "cluster:\t%s\n", s.Name)
	fmt.Fprintf(tw, "bundle id:\t%s\n", s.BundleID())
	fmt.Fprintf(tw, "kubernetes:\t%s\n", s.KubernetesVersion)
	fmt.Fprintf(tw, "endpoint:\t%s\n", endpoint)
	fmt.Fprintf(tw, "load balancer:\t%s\n", lb)
	fmt.Fprintf(tw, "networking:\tpods %s, services %s, domain %s, cni %s\n", s.Networking.PodSubnet, s.Networking.ServiceSubnet, s.Networking.DNSDomain, s.CNI)
	fmt.Fprintf(tw, "addressing:\t%s\n", addressing)
	if len(s.NTPServers) > 0 {
		fmt.Fprintf(tw, "ntp:\t%s\n", strings.Join(s.NTPServers, " "))
	}
	if l := s.LeaderElection; l != nil {
		fmt.Fprintf(tw, "leader election:\tlease %s, renew %s, retry %s\n", l.LeaseDuration, l.RenewDeadline, l.RetryPeriod)
	}
	if p := s.Probes; p != nil {
		orKubeadm := func(v int, unit string) string {
			if v == 0 {
				return "kubeadm's"
			}
			return strconv.Itoa(v) + unit
		}
		fmt.Fprintf(tw, "probes:\ttimeout %s, liveness failures %s, startup failures %s\n",
			orKubeadm(p.TimeoutSeconds, "s"), orKubeadm(p.LivenessFailureThreshold, ""), orKubeadm(p.StartupFailureThreshold, ""))
	}
	fmt.Fprintf(tw, "ca hash:\t%s\n", s.CACertHash)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tADDRESS\t")
	for i, n := range s.Nodes() {
		note := ""
		if i == 0 {
			note = "bootstraps (kubeadm init)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Role, n.Address, note)
	}
	return tw.Flush()
}

// kubeconfigFile is the file `kiln cluster kubeconfig` writes in the bundle
// directory when -o is not given.
const kubeconfigFile = "admin.kubeconfig"

func newClusterKubeconfigCommand() *cobra.Command {
	var (
		dir, output string
		o           cluster.KubeconfigOptions
		force       bool
	)
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Mint a short-lived admin kubeconfig from the bundle's cluster CA",
		Long: `Mint a kubeconfig for the bundle's cluster: a new ECDSA P-256 key and a client
certificate signed by the bundle's Kubernetes CA (pki/ca.key), with CN the
user and O each group, the CA certificate, and the server
https://VIP:PORT from cluster.yaml.

The default group makes the user cluster-admin: kubeadm:cluster-admins,
which kubeadm 1.29 and later bind to the cluster-admin ClusterRole, or
system:masters for a cluster made with an older Kubernetes. --group replaces
it (repeat for several), e.g. to mint a credential your own RBAC bindings
grant less.

Kubernetes cannot revoke a client certificate short of replacing the CA, so
the certificate is short-lived: --ttl, 1h by default and at most 24h, from a
minute ago (for clock skew). Mint a new one when it expires.

The kubeconfig goes to DIR/admin.kubeconfig, or to -o FILE, mode 0600, by a
temporary file and a rename. An existing file is replaced when it is a
kubeconfig for this cluster alone (renewal); anything else, such as a
~/.kube/config holding other clusters, only with --force. -o - prints it
to standard output instead (made 0600 first when it is a file).`,
		Example: `  kiln cluster kubeconfig --cluster prod/
  KUBECONFIG=prod/admin.kubeconfig kubectl get nodes
  kiln cluster kubeconfig --cluster prod/ --user alice --group platform-admins --ttl 8h -o alice.kubeconfig
  kubectl --kubeconfig <(kiln cluster kubeconfig --cluster prod/ -o -) get nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{errors.New("--cluster is required")}
			}
			if o.TTL <= 0 {
				return usageError{fmt.Errorf("--ttl %s: want a positive duration, e.g. 1h (at most %s)", o.TTL, fmtHours(cluster.MaxKubeconfigTTL))}
			}
			if err := checkOutPath(output, "file", "a kubeconfig is YAML; -o - prints it"); err != nil {
				return err
			}
			if output == "" {
				output = filepath.Join(dir, kubeconfigFile)
			}
			b, err := cluster.Load(dir)
			if err != nil {
				return err
			}
			k, err := b.AdminKubeconfig(o)
			if err != nil {
				return optionError(err, kubeconfigFlagNames, map[string][]string{"groups": o.Groups})
			}
			if output == "-" {
				w, err := secretOutput(cmd)
				if err != nil {
					return err
				}
				_, err = w.Write(k.Data)
				return err
			}
			if err := k.WriteFile(output, force); err != nil {
				if errors.Is(err, cluster.ErrForeignKubeconfig) {
					return usageError{fmt.Errorf("-o %s: the file exists and is not a kubeconfig for cluster %s alone; use --force to replace it", output, b.Spec.Name)}
				}
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: user %s, groups %s, server %s, expires %s\n",
				output, k.User, strings.Join(k.Groups, ","), k.Server, k.NotAfter.Format(time.RFC3339))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	f.StringVar(&o.User, "user", cluster.DefaultKubeconfigUser, "user name (the certificate's CN)")
	f.StringArrayVar(&o.Groups, "group", nil, "group (the certificate's O); repeat (default kubeadm:cluster-admins, or system:masters before Kubernetes 1.29)")
	f.DurationVar(&o.TTL, "ttl", cluster.DefaultKubeconfigTTL, "how long the certificate is valid, at most "+fmtHours(cluster.MaxKubeconfigTTL))
	f.StringVar(&o.Server, "server", "", "API server URL (default https://VIP:PORT from cluster.yaml)")
	f.StringVarP(&output, "out", "o", "", "`FILE` to write, or - for standard output (default DIR/"+kubeconfigFile+")")
	deprecatedOutputPath(cmd, &output)
	f.BoolVar(&force, "force", false, "replace an existing file that is not a kubeconfig for this cluster alone")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// kubeconfigFlagNames maps KubeconfigOptions fields to their flags.
var kubeconfigFlagNames = []struct{ field, flag string }{
	{"user", "--user"},
	{"groups", "--group"},
	{"ttl", "--ttl"},
	{"server", "--server"},
}

// fmtHours prints 24h rather than time.Duration's 24h0m0s.
func fmtHours(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}
