package lb

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/kiln-build/kiln/firstboot/kubeadm"
)

// ErrInvalidParams is wrapped by every error for a bad Params value; the message names the
// field.
var ErrInvalidParams = errors.New("invalid load balancer parameters")

// Mode is how the control-plane endpoint is made highly available.
type Mode string

// The modes.
const (
	// ModeKeepalivedHAProxy runs keepalived (VRRP, unicast) for the virtual IP and haproxy
	// on Port balancing over every API server: the kubeadm HA guide's static pods. The
	// control-plane endpoint is VIP:Port.
	ModeKeepalivedHAProxy Mode = "keepalived-haproxy"
	// ModeKubeVIP runs kube-vip in ARP mode with leader election. kube-vip moves the virtual
	// IP and does not balance: the control-plane endpoint is VIP:APIServerPort.
	ModeKubeVIP Mode = "kube-vip"
)

// Defaults for the optional Params fields.
const (
	DefaultPort            = 8443
	DefaultAPIServerPort   = 6443
	DefaultVirtualRouterID = 51
)

// Kubeconfigs kube-vip can authenticate with (see KubeVIPKubeconfig).
const (
	AdminKubeconfig      = "/etc/kubernetes/admin.conf"
	SuperAdminKubeconfig = "/etc/kubernetes/super-admin.conf"
)

// Images are the container images of the static pods. They are parameters so the image
// build can preload exactly these (first boot needs no registry); pin them by tag or digest.
type Images struct {
	HAProxy    string
	Keepalived string
	KubeVIP    string
}

// DefaultImages returns the images kiln pins by default: haproxy from the 2.8 LTS line,
// keepalived in the image the kubeadm HA guide uses (it ships curl and ip, which
// check_apiserver.sh needs), and kube-vip.
func DefaultImages() Images {
	return Images{
		HAProxy:    "docker.io/library/haproxy:2.8.5-alpine",
		Keepalived: "docker.io/osixia/keepalived:2.0.20",
		KubeVIP:    "ghcr.io/kube-vip/kube-vip:v1.2.3",
	}
}

// For returns the images mode runs, for preloading.
func (i Images) For(mode Mode) []string {
	if mode == ModeKubeVIP {
		return []string{i.KubeVIP}
	}
	return []string{i.HAProxy, i.Keepalived}
}

// Peer is one control-plane node.
type Peer struct {
	Name    string // node name
	Address string // IPv4 address its API server listens on
}

// Params describes the load balancer on one control-plane node.
type Params struct {
	Mode Mode
	// VIP is the virtual IPv4 address of the control-plane endpoint.
	VIP string
	// Port is haproxy's frontend port; 0 means 8443. Not used by kube-vip.
	Port int
	// APIServerPort is the port every API server listens on; 0 means 6443.
	APIServerPort int
	// Interface is the network interface the virtual IP lives on, e.g. eth0.
	Interface string
	// Peers are all control-plane nodes, in the cluster's order: the first bootstraps the
	// cluster and gets the highest VRRP priority.
	Peers []Peer
	// Self is the name of this node; it must be one of Peers.
	Self string
	// VirtualRouterID is the VRRP router ID, the same on every peer and unique on the
	// network; 0 means 51.
	VirtualRouterID int
	// AuthPass is the VRRP password shared by the peers: 1 to 8 letters or digits
	// (keepalived uses at most 8 characters). Required for keepalived.
	AuthPass string
	// Kubeconfig is the host file kube-vip authenticates with; empty means admin.conf. See
	// KubeVIPKubeconfig.
	Kubeconfig string
	Images     Images
	// Check is keepalived's health check of this node (keepalived-haproxy); zero fields
	// keep the defaults.
	Check Check
}

// Check is how keepalived checks its node: every Interval seconds, each request
// waiting at most Timeout seconds; Fall failures in a row give the VIP up and Rise
// successes take it back. The defaults (2, 2, 3, 2) give the VIP up within 6-8 s of
// the API server stopping. On slow or overcommitted hosts, where a healthy API server
// often takes over 2 s to answer, they move the VIP back and forth; longer ones keep
// it, at the cost of a slower failover (about Interval x Fall).
type Check struct {
	Interval, Timeout, Fall, Rise int
}

// The defaults of Check.
const (
	DefaultCheckInterval = 2
	DefaultCheckTimeout  = 2
	DefaultCheckFall     = 3
	DefaultCheckRise     = 2
)

// ScriptTimeout is how long keepalived lets the check script run: its three requests
// at Timeout each, and a second more.
func (c Check) ScriptTimeout() int { return 3*c.Timeout + 1 }

// File is one rendered file.
type File struct {
	Path string // relative to the root of the node's filesystem, e.g. etc/haproxy/haproxy.cfg
	Mode fs.FileMode
	Data []byte
}

// KubeVIPKubeconfig returns the kubeconfig kube-vip must use on a node running kubeadm of
// kubernetesVersion. From 1.29, kubeadm's admin.conf is bound by RBAC that is only created
// once the API server is up, so while `kubeadm init` runs on the bootstrap node kube-vip
// (which must hold the VIP before the API server can be reached through it) needs
// super-admin.conf, which exists only there. Once init has finished, the agent renders the
// manifest again with admin.conf, and kubelet restarts kube-vip with it.
func KubeVIPKubeconfig(kubernetesVersion string, initializing bool) (string, error) {
	v, err := kubeadm.ParseVersion(kubernetesVersion)
	if err != nil {
		return "", err
	}
	if initializing && v.AtLeast(1, 29) {
		return SuperAdminKubeconfig, nil
	}
	return AdminKubeconfig, nil
}

// Render validates p and returns the files for its mode, sorted by path:
//
//	keepalived-haproxy: etc/haproxy/haproxy.cfg, etc/keepalived/check_apiserver.sh,
//	  etc/keepalived/keepalived.conf, etc/kubernetes/manifests/haproxy.yaml,
//	  etc/kubernetes/manifests/keepalived.yaml
//	kube-vip: etc/kubernetes/manifests/kube-vip.yaml
func Render(p Params) ([]File, error) {
	n, err := normalize(p)
	if err != nil {
		return nil, err
	}
	var files []File
	switch n.Mode {
	case ModeKubeVIP:
		data, err := execute("kube-vip.yaml.tmpl", struct {
			params
			Image string
		}{n, n.Images.KubeVIP})
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: "etc/kubernetes/manifests/kube-vip.yaml", Mode: 0o600, Data: data})
	default:
		haproxyCfg, err := execute("haproxy.cfg.tmpl", n)
		if err != nil {
			return nil, err
		}
		keepalivedConf, err := execute("keepalived.conf.tmpl", n)
		if err != nil {
			return nil, err
		}
		check, err := execute("check_apiserver.sh.tmpl", n)
		if err != nil {
			return nil, err
		}
		haproxyPod, err := execute("haproxy.yaml.tmpl", struct {
			params
			Image, ConfigHash string
		}{n, n.Images.HAProxy, digest(haproxyCfg)})
		if err != nil {
			return nil, err
		}
		keepalivedPod, err := execute("keepalived.yaml.tmpl", struct {
			params
			Image, ConfigHash string
		}{n, n.Images.Keepalived, digest(keepalivedConf, check)})
		if err != nil {
			return nil, err
		}
		files = append(files,
			File{Path: "etc/haproxy/haproxy.cfg", Mode: 0o644, Data: haproxyCfg},
			File{Path: "etc/keepalived/check_apiserver.sh", Mode: 0o755, Data: check},
			File{Path: "etc/keepalived/keepalived.conf", Mode: 0o644, Data: keepalivedConf},
			File{Path: "etc/kubernetes/manifests/haproxy.yaml", Mode: 0o600, Data: haproxyPod},
			File{Path: "etc/kubernetes/manifests/keepalived.yaml", Mode: 0o600, Data: keepalivedPod},
		)
	}
	return files, nil
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

func execute(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", strings.TrimSuffix(name, ".tmpl"), err)
	}
	return buf.Bytes(), nil
}

// digest is the sha256 of the files' contents, each length-prefixed.
func digest(files ...[]byte) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d\n", len(f))
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// params is Params validated, with defaults filled in and the per-node values derived.
type params struct {
	Params
	Node     Peer   // this node: the peer named Self
	Others   []Peer // the peers other than Self, in order
	State    string // MASTER on the first peer, BACKUP elsewhere
	Priority int
	Weight   int
}

// maxPeers bounds the peer list so every priority stays in keepalived's 1..255 and the
// check weight can exceed the spread of priorities.
const maxPeers = 50

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	interfaceRE = regexp.MustCompile(`^[a-zA-Z0-9][-a-zA-Z0-9_.]{0,14}$`)
	authPassRE  = regexp.MustCompile(`^[A-Za-z0-9]{1,8}$`)
	// An image reference: [registry[:port]/]path[:tag][@sha256:digest], lowercase path.
	imageRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$`)
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidParams, field, fmt.Sprintf(format, args...))
}

func ipv4(field, s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return invalid(field, "%q is not an IPv4 address", s)
	}
	return nil
}

func normalize(p Params) (params, error) {
	n := params{Params: p}
	switch p.Mode {
	case ModeKeepalivedHAProxy, ModeKubeVIP:
	default:
		return n, invalid("mode", "%q is not a mode (want %s or %s)", p.Mode, ModeKeepalivedHAProxy, ModeKubeVIP)
	}
	if err := ipv4("vip", p.VIP); err != nil {
		return n, err
	}
	if n.APIServerPort == 0 {
		n.APIServerPort = DefaultAPIServerPort
	}
	if n.Port == 0 {
		n.Port = DefaultPort
	}
	if n.Port < 1 || n.Port > 65535 {
		return n, invalid("port", "%d is not a port", n.Port)
	}
	if n.APIServerPort < 1 || n.APIServerPort > 65535 {
		return n, invalid("apiServerPort", "%d is not a port", n.APIServerPort)
	}
	if n.Mode == ModeKeepalivedHAProxy && n.Port == n.APIServerPort {
		return n, invalid("port", "haproxy and the API server both want port %d", n.Port)
	}
	if !interfaceRE.MatchString(p.Interface) {
		return n, invalid("interface", "%q is not a network interface name", p.Interface)
	}
	if len(p.Peers) == 0 || len(p.Peers) > maxPeers {
		return n, invalid("peers", "want 1 to %d control-plane peers, got %d", maxPeers, len(p.Peers))
	}
	self := -1
	for i, peer := range p.Peers {
		field := fmt.Sprintf("peers[%d]", i)
		if !nameRE.MatchString(peer.Name) {
			return n, invalid(field+".name", "%q is not a node name", peer.Name)
		}
		if err := ipv4(field+".address", peer.Address); err != nil {
			return n, err
		}
		if peer.Address == p.VIP {
			return n, invalid(field+".address", "%s is the virtual IP", peer.Address)
		}
		if slices.ContainsFunc(p.Peers[:i], func(q Peer) bool { return q.Name == peer.Name || q.Address == peer.Address }) {
			return n, invalid(field, "%s (%s) is listed twice", peer.Name, peer.Address)
		}
		if peer.Name == p.Self {
			self = i
		}
	}
	if self < 0 {
		return n, invalid("self", "%q is not one of the peers", p.Self)
	}
	n.Node = p.Peers[self]
	for i, peer := range p.Peers {
		if i != self {
			n.Others = append(n.Others, peer)
		}
	}
	n.State = "BACKUP"
	if self == 0 {
		n.State = "MASTER"
	}
	n.Priority = 150 - self
	n.Weight = maxPeers

	for _, f := range []struct {
		name     string
		v        *int
		def, max int
	}{{"check.interval", &n.Check.Interval, DefaultCheckInterval, 60}, {"check.timeout", &n.Check.Timeout, DefaultCheckTimeout, 60},
		{"check.fall", &n.Check.Fall, DefaultCheckFall, 20}, {"check.rise", &n.Check.Rise, DefaultCheckRise, 20}} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 1 || *f.v > f.max {
			return n, invalid(f.name, "%d is not between 1 and %d", *f.v, f.max)
		}
	}

	if n.Mode == ModeKeepalivedHAProxy {
		if n.VirtualRouterID == 0 {
			n.VirtualRouterID = DefaultVirtualRouterID
		} else if n.VirtualRouterID < 1 || n.VirtualRouterID > 255 {
			return n, invalid("virtualRouterID", "%d is not in 1..255", n.VirtualRouterID)
		}
		if !authPassRE.MatchString(p.AuthPass) {
			return n, invalid("authPass", "want 1 to 8 letters or digits")
		}
		if !imageRE.MatchString(p.Images.HAProxy) {
			return n, invalid("images.haproxy", "%q is not an image reference", p.Images.HAProxy)
		}
		if !imageRE.MatchString(p.Images.Keepalived) {
			return n, invalid("images.keepalived", "%q is not an image reference", p.Images.Keepalived)
		}
		return n, nil
	}

	if p.Port != 0 && p.Port != n.APIServerPort {
		return n, invalid("port", "kube-vip serves the virtual IP on the API server's port %d, not %d", n.APIServerPort, p.Port)
	}
	if n.Kubeconfig == "" {
		n.Kubeconfig = AdminKubeconfig
	} else if n.Kubeconfig != AdminKubeconfig && n.Kubeconfig != SuperAdminKubeconfig {
		return n, invalid("kubeconfig", "%q: want %s or %s", n.Kubeconfig, AdminKubeconfig, SuperAdminKubeconfig)
	}
	if !imageRE.MatchString(p.Images.KubeVIP) {
		return n, invalid("images.kubeVIP", "%q is not an image reference", p.Images.KubeVIP)
	}
	return n, nil
}
