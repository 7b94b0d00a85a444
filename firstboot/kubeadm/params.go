package kubeadm

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidParams is wrapped by every error Render returns for a bad Params value; the
// message names the field.
var ErrInvalidParams = errors.New("invalid kubeadm parameters")

// Role is what kubeadm does on the node.
type Role string

// The roles a node can take.
const (
	// RoleInit bootstraps the cluster on the first control-plane node (kubeadm init).
	RoleInit Role = "init"
	// RoleJoinControlPlane adds a control-plane node (kubeadm join --control-plane).
	RoleJoinControlPlane Role = "join-control-plane"
	// RoleJoinWorker adds a worker node (kubeadm join).
	RoleJoinWorker Role = "join-worker"
)

// Defaults for the optional Params fields.
const (
	DefaultClusterName   = "kubernetes"
	DefaultBindPort      = 6443
	DefaultCRISocket     = "unix:///run/containerd/containerd.sock"
	DefaultPodSubnet     = "10.244.0.0/16"
	DefaultServiceSubnet = "10.96.0.0/12"
	DefaultDNSDomain     = "cluster.local"
)

// Params is everything Render needs to know about one node. The agent fills it from the
// node's metadata; zero optional fields take the defaults above (or kubeadm's own).
type Params struct {
	// Role selects the documents: InitConfiguration + ClusterConfiguration (+ component
	// configs) for RoleInit, JoinConfiguration for the join roles.
	Role Role
	// KubernetesVersion is the version of the installed kubeadm and kubelet, e.g. v1.34.4.
	// It also selects the kubeadm API version (see APIVersion).
	KubernetesVersion string
	// ClusterName defaults to "kubernetes".
	ClusterName string
	// ControlPlaneEndpoint is the stable HOST:PORT every node reaches the API server
	// through: the virtual IP and the load balancer's port, e.g. 10.0.0.100:8443.
	ControlPlaneEndpoint string
	// CertSANs are extra subject alternative names for the API server certificate: every
	// control plane's address and name. The endpoint host is always added.
	CertSANs []string
	// AdvertiseAddress is the IP address this node's API server listens on (init and
	// control-plane join).
	AdvertiseAddress string
	// BindPort is this node's API server port; 0 means 6443.
	BindPort int
	// NodeName is the Kubernetes node name.
	NodeName string
	// CRISocket defaults to containerd's socket.
	CRISocket string
	// PodSubnet, ServiceSubnet and DNSDomain configure cluster networking (init only).
	PodSubnet, ServiceSubnet, DNSDomain string
	// BootstrapToken is the token (abcdef.0123456789abcdef) created at init, or used to join
	// with token discovery. Optional at init: kubeadm then makes a random one.
	BootstrapToken string
	// BootstrapTokenTTL is how long the token made at init stays valid; 0 means kubeadm's
	// default (24h).
	BootstrapTokenTTL time.Duration
	// CACertHashes pin the cluster CA for token discovery: "sha256:<hex of the CA's public
	// key info>".
	CACertHashes []string
	// DiscoveryFile is the absolute path of a kubeconfig holding the cluster CA and this
	// node's client credential (see package credential): a join with it trusts the API
	// server by that CA and authenticates with the credential (discovery.file), so it
	// needs no BootstrapToken and no CACertHashes, which must then be empty. kubeadm reads
	// the file when it validates the configuration, so it must exist by then.
	DiscoveryFile string
	// CertificateKey decrypts the control-plane certificates kubeadm uploaded at init
	// (kubeadm init --upload-certs). Leave it empty when the certificates are placed on the
	// node beforehand.
	CertificateKey string
	// ImageRepository overrides registry.k8s.io for the control-plane images.
	ImageRepository string
	// EtcdImage and DNSImage override the repository (to which kubeadm appends "etcd" or
	// "coredns") and the tag of the local etcd's and CoreDNS's images; zero means kubeadm's.
	EtcdImage, DNSImage ImageMeta
	// NodeLabels become the kubelet's --node-labels.
	NodeLabels map[string]string
	// KubeletExtraArgs are extra kubelet flags, without the leading "--".
	KubeletExtraArgs map[string]string
	// Taints registers the node with these taints. Nil keeps kubeadm's default (the
	// control-plane taint on control-plane nodes, none on workers); an empty, non-nil slice
	// registers the node with no taints at all.
	Taints []Taint
	// SkipPhases names kubeadm phases to skip, e.g. "addon/kube-proxy".
	SkipPhases []string
	// IgnorePreflightErrors names preflight checks whose failure is not fatal.
	IgnorePreflightErrors []string
	// ProxyMode sets kube-proxy's mode (iptables, ipvs, nftables); empty keeps the default.
	ProxyMode string
	// ControlPlaneTimeout is how long kubeadm waits for the control plane to come up; 0
	// means kubeadm's default. Slow first boots may want more. v1beta3 has no place for it
	// in a JoinConfiguration, so before 1.31 only init honours it.
	ControlPlaneTimeout time.Duration
	// DiscoveryTimeout is how long a join waits to discover and trust the cluster; 0 means
	// kubeadm's default.
	DiscoveryTimeout time.Duration
	// LeaderElection sets kube-controller-manager's and kube-scheduler's leader-election
	// timings (init only: kubeadm keeps them in the cluster's ClusterConfiguration, which
	// every joining control plane reads); zero keeps the components' defaults.
	LeaderElection LeaderElection
	// PatchesDir is a directory of kubeadm patches (e.g. Probes.Patches) for the static
	// pods of a control plane (init and join --control-plane); empty means none.
	PatchesDir string
}

// LeaderElection is the leader-election timing of the control plane's controllers
// (--leader-elect-lease-duration, --leader-elect-renew-deadline,
// --leader-elect-retry-period). The defaults (15s, 10s, 2s) make a controller manager
// whose API server is slow to answer lose its lease and restart, again and again, on
// a starved host; longer timings trade a slower failover for staying up. All three are
// set, or none.
type LeaderElection struct {
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// IsZero reports whether no timing is set.
func (l LeaderElection) IsZero() bool { return l == LeaderElection{} }

// Validate checks the timings as client-go's leader election does: all three
// positive, the lease longer than the renew deadline, and the renew deadline
// longer than a retry period with its jitter (1.2×).
func (l LeaderElection) Validate() error {
	switch {
	case l.IsZero():
		return nil
	case l.LeaseDuration <= 0 || l.RenewDeadline <= 0 || l.RetryPeriod <= 0:
		return errors.New("set all three of leaseDuration, renewDeadline and retryPeriod, each positive")
	case l.LeaseDuration <= l.RenewDeadline:
		return fmt.Errorf("leaseDuration %s must be longer than renewDeadline %s", l.LeaseDuration, l.RenewDeadline)
	case float64(l.RenewDeadline) <= 1.2*float64(l.RetryPeriod):
		return fmt.Errorf("renewDeadline %s must be longer than 1.2 × retryPeriod %s", l.RenewDeadline, l.RetryPeriod)
	}
	return nil
}

// ImageMeta is kubeadm's ImageMeta: an image repository and tag.
type ImageMeta struct {
	Repository, Tag string
}

// Taint is a node taint.
type Taint struct {
	Key    string
	Value  string
	Effect string // NoSchedule, PreferNoSchedule or NoExecute
}

var (
	tokenRE     = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	caHashRE    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	certKeyRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	dns1123RE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	argNameRE   = regexp.MustCompile(`^[a-zA-Z0-9][-a-zA-Z0-9_.]*$`)
	phaseRE     = regexp.MustCompile(`^[a-z0-9][-a-z0-9/]*$`)
	labelKeyRE  = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelValRE  = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	tagRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	repoRE      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9._:/]*[a-z0-9])?$`)
	proxyModes  = map[string]bool{"iptables": true, "ipvs": true, "nftables": true}
	taintEffect = map[string]bool{"NoSchedule": true, "PreferNoSchedule": true, "NoExecute": true}
)

// normalized is Params after validation, with defaults filled in.
type normalized struct {
	Params
	version    Version
	apiVersion string
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidParams, field, fmt.Sprintf(format, args...))
}

// normalize validates p and fills its defaults.
func normalize(p Params) (normalized, error) {
	n := normalized{Params: p}
	var err error
	if n.version, err = ParseVersion(p.KubernetesVersion); err != nil {
		return n, err
	}
	if n.apiVersion, err = APIVersion(n.version); err != nil {
		return n, err
	}
	switch p.Role {
	case RoleInit, RoleJoinControlPlane, RoleJoinWorker:
	default:
		return n, invalid("role", "%q is not a role (want %s, %s or %s)", p.Role, RoleInit, RoleJoinControlPlane, RoleJoinWorker)
	}
	controlPlane := p.Role != RoleJoinWorker

	if n.ClusterName == "" {
		n.ClusterName = DefaultClusterName
	} else if !dns1123RE.MatchString(n.ClusterName) {
		return n, invalid("clusterName", "%q is not a DNS name", n.ClusterName)
	}
	if _, _, err := splitEndpoint(p.ControlPlaneEndpoint); err != nil {
		return n, invalid("controlPlaneEndpoint", "%v", err)
	}
	if n.BindPort == 0 {
		n.BindPort = DefaultBindPort
	} else if n.BindPort < 1 || n.BindPort > 65535 {
		return n, invalid("bindPort", "%d is not a port", n.BindPort)
	}
	if controlPlane {
		if _, err := netip.ParseAddr(p.AdvertiseAddress); err != nil {
			return n, invalid("advertiseAddress", "%q is not an IP address", p.AdvertiseAddress)
		}
	} else if p.AdvertiseAddress != "" {
		return n, invalid("advertiseAddress", "set for a worker, which runs no API server")
	}
	if !dns1123RE.MatchString(p.NodeName) || len(p.NodeName) > 253 {
		return n, invalid("nodeName", "%q is not a lowercase DNS name", p.NodeName)
	}
	if n.CRISocket == "" {
		n.CRISocket = DefaultCRISocket
	} else if !strings.HasPrefix(n.CRISocket, "unix:///") {
		return n, invalid("criSocket", "%q: want unix:///PATH", n.CRISocket)
	}
	if n.PodSubnet == "" {
		n.PodSubnet = DefaultPodSubnet
	}
	if n.ServiceSubnet == "" {
		n.ServiceSubnet = DefaultServiceSubnet
	}
	if n.DNSDomain == "" {
		n.DNSDomain = DefaultDNSDomain
	}
	for field, v := range map[string]string{"podSubnet": n.PodSubnet, "serviceSubnet": n.ServiceSubnet} {
		for _, s := range strings.Split(v, ",") {
			if pfx, err := netip.ParsePrefix(s); err != nil || pfx.Masked() != pfx {
				return n, invalid(field, "%q is not a CIDR (or comma-separated CIDRs for dual stack)", v)
			}
		}
	}
	if !dns1123RE.MatchString(n.DNSDomain) {
		return n, invalid("dnsDomain", "%q is not a DNS name", n.DNSDomain)
	}
	if p.BootstrapToken != "" && !tokenRE.MatchString(p.BootstrapToken) {
		return n, invalid("bootstrapToken", "want [a-z0-9]{6}.[a-z0-9]{16}")
	}
	if p.BootstrapTokenTTL < 0 {
		return n, invalid("bootstrapTokenTTL", "%s is negative", p.BootstrapTokenTTL)
	}
	switch {
	case p.Role == RoleInit:
		if p.DiscoveryFile != "" {
			return n, invalid("discoveryFile", "is for joins; init makes the cluster")
		}
	case p.DiscoveryFile != "":
		if !strings.HasPrefix(p.DiscoveryFile, "/") {
			return n, invalid("discoveryFile", "%q is not an absolute path", p.DiscoveryFile)
		}
		if p.BootstrapToken != "" || len(p.CACertHashes) > 0 {
			return n, invalid("discoveryFile", "is set together with bootstrapToken or caCertHashes; a join uses one way to find and trust the cluster")
		}
	case p.BootstrapToken == "":
		return n, invalid("bootstrapToken", "a join needs a token, or a discoveryFile with a node credential")
	case len(p.CACertHashes) == 0:
		return n, invalid("caCertHashes", "a join needs at least one CA hash (sha256:...) to trust the cluster")
	}
	for i, h := range p.CACertHashes {
		if !caHashRE.MatchString(h) {
			return n, invalid(fmt.Sprintf("caCertHashes[%d]", i), "%q: want sha256: and 64 lowercase hex digits", h)
		}
	}
	if p.CertificateKey != "" {
		if p.Role == RoleJoinWorker {
			return n, invalid("certificateKey", "set for a worker, which needs no control-plane certificates")
		}
		if !certKeyRE.MatchString(p.CertificateKey) {
			return n, invalid("certificateKey", "want 64 lowercase hex digits")
		}
	}
	for i, san := range p.CertSANs {
		if _, err := netip.ParseAddr(san); err != nil && !dns1123RE.MatchString(strings.TrimPrefix(san, "*.")) {
			return n, invalid(fmt.Sprintf("certSANs[%d]", i), "%q is neither an IP address nor a DNS name", san)
		}
	}
	for k, v := range p.NodeLabels {
		if !labelKeyRE.MatchString(k) || !labelValRE.MatchString(v) || len(v) > 63 {
			return n, invalid("nodeLabels", "%q=%q is not a valid label", k, v)
		}
	}
	for k, v := range p.KubeletExtraArgs {
		if !argNameRE.MatchString(k) {
			return n, invalid("kubeletExtraArgs", "%q is not a flag name (write it without the leading --)", k)
		}
		if k == "node-labels" && len(p.NodeLabels) > 0 {
			return n, invalid("kubeletExtraArgs", "node-labels is set both here and in nodeLabels")
		}
		if strings.ContainsAny(v, "\n\r") {
			return n, invalid("kubeletExtraArgs", "value of %q has a line break", k)
		}
	}
	for i, t := range p.Taints {
		if !labelKeyRE.MatchString(t.Key) || !labelValRE.MatchString(t.Value) || !taintEffect[t.Effect] {
			return n, invalid(fmt.Sprintf("taints[%d]", i), "%q=%q:%q: want a label key, a label value and NoSchedule, PreferNoSchedule or NoExecute", t.Key, t.Value, t.Effect)
		}
	}
	for i, ph := range p.SkipPhases {
		if !phaseRE.MatchString(ph) {
			return n, invalid(fmt.Sprintf("skipPhases[%d]", i), "%q is not a phase name", ph)
		}
	}
	for i, c := range p.IgnorePreflightErrors {
		if !argNameRE.MatchString(c) {
			return n, invalid(fmt.Sprintf("ignorePreflightErrors[%d]", i), "%q is not a check name", c)
		}
	}
	if p.ProxyMode != "" && !proxyModes[p.ProxyMode] {
		return n, invalid("proxyMode", "%q is not a kube-proxy mode (want iptables, ipvs or nftables)", p.ProxyMode)
	}
	if p.ControlPlaneTimeout < 0 || p.DiscoveryTimeout < 0 {
		return n, invalid("timeouts", "negative duration")
	}
	if err := p.LeaderElection.Validate(); err != nil {
		return n, invalid("leaderElection", "%v", err)
	}
	if d := p.PatchesDir; d != "" && (!strings.HasPrefix(d, "/") || strings.ContainsAny(d, "\n\r\"'")) {
		return n, invalid("patchesDir", "%q is not an absolute path", d)
	}
	if p.ImageRepository != "" && !repoRE.MatchString(p.ImageRepository) {
		return n, invalid("imageRepository", "%q is not a registry path", p.ImageRepository)
	}
	for field, m := range map[string]ImageMeta{"etcdImage": p.EtcdImage, "dnsImage": p.DNSImage} {
		if m.Repository != "" && !repoRE.MatchString(m.Repository) {
			return n, invalid(field+".repository", "%q is not a registry path", m.Repository)
		}
		if m.Tag != "" && !tagRE.MatchString(m.Tag) {
			return n, invalid(field+".tag", "%q is not an image tag", m.Tag)
		}
	}
	return n, nil
}

// splitEndpoint splits HOST:PORT, refusing an empty host or a bad port.
func splitEndpoint(ep string) (string, int, error) {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", 0, fmt.Errorf("%q: want HOST:PORT, e.g. 10.0.0.100:8443", ep)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: %q is not a port", ep, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !dns1123RE.MatchString(host) {
		return "", 0, fmt.Errorf("%q: %q is neither an IP address nor a DNS name", ep, host)
	}
	return host, n, nil
}
