package cluster

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/document"
)

// KindCluster is the kind of cluster.yaml.
const KindCluster = "Cluster"

// Spec is cluster.yaml: everything about the cluster except its secrets.
// Its fields mirror config.Cluster, so that an error names the same field in
// both documents (cluster.yaml's controlPlanes is the NodeConfig's
// cluster.controlPlane.peers).
type Spec struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	Name       string `yaml:"name" json:"name"`
	// ID tells this bundle from every other, whatever its name: 32
	// random hex digits made by New and kept by AddNode. It is not secret;
	// kiln marks every VM it clones with it (and with CACertHash), so that
	// a node is recognised under any VM name. A bundle made before IDs
	// has none; BundleID then derives one from CACertHash.
	ID                   string                      `yaml:"id,omitempty" json:"id,omitempty"`
	KubernetesVersion    string                      `yaml:"kubernetesVersion" json:"kubernetesVersion"`
	ControlPlaneEndpoint config.ControlPlaneEndpoint `yaml:"controlPlaneEndpoint" json:"controlPlaneEndpoint"`
	LoadBalancer         config.LoadBalancer         `yaml:"loadBalancer" json:"loadBalancer"`
	Networking           config.Networking           `yaml:"networking" json:"networking"`
	CNI                  config.CNI                  `yaml:"cni" json:"cni"`
	NTPServers           []string                    `yaml:"ntpServers,omitempty" json:"ntpServers,omitempty"`
	NodeNetwork          NodeNetwork                 `yaml:"nodeNetwork" json:"nodeNetwork"`
	// ControlPlanes is in bootstrap order: the first runs kubeadm init.
	ControlPlanes []config.Peer `yaml:"controlPlanes" json:"controlPlanes"`
	Workers       []config.Peer `yaml:"workers,omitempty" json:"workers,omitempty"`
	// LeaderElection is the NodeConfig's cluster.controlPlane.leaderElection.
	LeaderElection *config.LeaderElection `yaml:"leaderElection,omitempty" json:"leaderElection,omitempty"`
	// Probes is the NodeConfig's cluster.controlPlane.probes.
	Probes *config.Probes `yaml:"probes,omitempty" json:"probes,omitempty"`
	// CACertHash is public (a hash of the CA's public key); it is here so
	// that `kiln cluster show` can print the kubeadm join arguments.
	CACertHash string `yaml:"caCertHash" json:"caCertHash"`
}

// NodeNetwork is how every node of the cluster addresses its NIC.
type NodeNetwork struct {
	// Interface is the NIC name on every node, also the VRRP interface
	// unless loadBalancer.interface says otherwise; empty: found at boot.
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty"`
	// PrefixLength > 0 makes addressing static: each node gets its address
	// with this prefix length. 0 means DHCP (each node's address must then
	// be reserved for it).
	PrefixLength int      `yaml:"prefixLength,omitempty" json:"prefixLength,omitempty"`
	Gateway      string   `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	DNS          []string `yaml:"dns,omitempty" json:"dns,omitempty"`
}

// BundleID is the bundle's identity: ID, or for a bundle made before IDs,
// "ca-" and the first 32 hex digits of CACertHash (stable, since the CA
// never changes).
func (s *Spec) BundleID() string {
	if s.ID != "" {
		return s.ID
	}
	h := strings.TrimPrefix(s.CACertHash, "sha256:")
	return "ca-" + h[:min(32, len(h))]
}

// Node is one node of the bundle, with its role.
type Node struct {
	Name    string      `json:"name"`
	Role    config.Role `json:"role"`
	Address string      `json:"address"`
}

// Nodes lists the control planes (in bootstrap order), then the workers.
func (s *Spec) Nodes() []Node {
	var out []Node
	for _, p := range s.ControlPlanes {
		out = append(out, Node{Name: p.Name, Role: config.RoleControlPlane, Address: p.Address})
	}
	for _, p := range s.Workers {
		out = append(out, Node{Name: p.Name, Role: config.RoleWorker, Address: p.Address})
	}
	return out
}

// node finds a node by name.
func (s *Spec) node(name string) (Node, bool) {
	for _, n := range s.Nodes() {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// cluster is the config.Cluster every node's metadata starts from, without secrets.
func (s *Spec) cluster() config.Cluster {
	return config.Cluster{
		Name:                 s.Name,
		KubernetesVersion:    s.KubernetesVersion,
		ControlPlaneEndpoint: s.ControlPlaneEndpoint,
		LoadBalancer:         s.LoadBalancer,
		Networking:           s.Networking,
		ControlPlane:         config.ControlPlane{Peers: append([]config.Peer(nil), s.ControlPlanes...), LeaderElection: s.LeaderElection, Probes: s.Probes},
		CNI:                  s.CNI,
		NTPServers:           append([]string(nil), s.NTPServers...),
	}
}

func (s *Spec) setDefaults() {
	c := s.cluster()
	c.SetDefaults()
	s.ControlPlaneEndpoint, s.LoadBalancer, s.Networking, s.CNI = c.ControlPlaneEndpoint, c.LoadBalancer, c.Networking, c.CNI
}

// validate checks the spec; errors are *config.Error naming cluster.yaml's fields.
func (s *Spec) validate() error {
	var errs document.List
	add := errs.Add
	if s.APIVersion != config.APIVersion {
		add("apiVersion", "%q is not supported (want %q)", s.APIVersion, config.APIVersion)
	}
	if s.Kind != KindCluster {
		add("kind", "%q is not %q", s.Kind, KindCluster)
	}
	c := s.cluster()
	for _, e := range config.Errors(c.Validate()) {
		e.Field = specField(e.Field)
		errs = append(errs, e)
	}

	vip, _ := netip.ParseAddr(s.ControlPlaneEndpoint.VIP)
	pods, _ := netip.ParsePrefix(s.Networking.PodSubnet)
	svcs, _ := netip.ParsePrefix(s.Networking.ServiceSubnet)
	names := map[string]string{}
	addrs := map[netip.Addr]string{}
	for i, p := range s.ControlPlanes {
		names[p.Name] = fmt.Sprintf("controlPlanes[%d]", i)
		if a, err := netip.ParseAddr(p.Address); err == nil {
			addrs[a] = fmt.Sprintf("controlPlanes[%d]", i)
		}
	}
	for i, w := range s.Workers {
		f := fmt.Sprintf("workers[%d]", i)
		if err := config.CheckNodeName(w.Name); err != nil {
			add(f+".name", "%v", err)
		} else if other, dup := names[w.Name]; dup {
			add(f+".name", "%q is already %s", w.Name, other)
		} else {
			names[w.Name] = f
		}
		a, err := netip.ParseAddr(w.Address)
		switch {
		case err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast():
			add(f+".address", "%q is not a host IP address", w.Address)
		case addrs[a] != "":
			add(f+".address", "%s is already the address of %s", a, addrs[a])
		case a == vip:
			add(f+".address", "%s is the control-plane VIP; the VIP must be an address no node has", a)
		case pods.IsValid() && pods.Contains(a):
			add(f+".address", "%s is inside the pod subnet %s", a, pods)
		case svcs.IsValid() && svcs.Contains(a):
			add(f+".address", "%s is inside the service subnet %s", a, svcs)
		default:
			addrs[a] = f
		}
	}

	nn := s.NodeNetwork
	if nn.Interface != "" {
		if err := config.CheckInterfaceName(nn.Interface); err != nil {
			add("nodeNetwork.interface", "%v", err)
		}
	}
	if nn.PrefixLength < 0 || nn.PrefixLength > 128 {
		add("nodeNetwork.prefixLength", "%d is not a prefix length", nn.PrefixLength)
	}
	if nn.PrefixLength == 0 && nn.Gateway != "" {
		add("nodeNetwork.gateway", "needs static addressing (a prefix length)")
	}
	for i, d := range nn.DNS {
		if a, err := netip.ParseAddr(d); err != nil || a.Zone() != "" {
			add(fmt.Sprintf("nodeNetwork.dns[%d]", i), "%q is not an IP address", d)
		}
	}
	if nn.Gateway != "" {
		if _, err := netip.ParseAddr(nn.Gateway); err != nil {
			add("nodeNetwork.gateway", "%q is not an IP address", nn.Gateway)
		}
	}
	if nn.PrefixLength > 0 {
		// Static addressing: check against every node now, so that the
		// error names the option rather than one node's metadata.
		gw, gwErr := netip.ParseAddr(nn.Gateway)
		for _, n := range s.Nodes() {
			a, err := netip.ParseAddr(n.Address)
			if err != nil {
				continue // reported above
			}
			p, err := a.Prefix(nn.PrefixLength)
			if err != nil {
				add("nodeNetwork.prefixLength", "%d is not a prefix length for %s (%s)", nn.PrefixLength, n.Address, n.Name)
				break
			}
			if nn.Gateway != "" && gwErr == nil && !p.Contains(gw) {
				add("nodeNetwork.gateway", "%s is outside %s's network %s", gw, n.Name, p)
				break
			}
			if n.Role == config.RoleControlPlane && vip.IsValid() && s.LoadBalancer.Mode != config.LBExternal && !p.Contains(vip) {
				add("controlPlaneEndpoint.vip", "%s is outside control plane %s's network %s; %s can only move the VIP within it", vip, n.Name, p, s.LoadBalancer.Mode)
				break
			}
		}
	}
	if !hashOK(s.CACertHash) {
		add("caCertHash", "%q is not a CA certificate hash", s.CACertHash)
	}
	if s.ID != "" && !idOK(s.ID) {
		add("id", "%q is not a bundle ID (want 32 lowercase hex digits, as kiln cluster new makes)", s.ID)
	}
	return errs.Err()
}

func hashOK(h string) bool {
	const p = "sha256:"
	return len(h) == len(p)+64 && strings.HasPrefix(h, p) && lowerHex(h[len(p):])
}

func idOK(id string) bool { return len(id) == 32 && lowerHex(id) }

func lowerHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// specField turns a NodeConfig field path into cluster.yaml's spelling.
func specField(f string) string {
	f = strings.TrimPrefix(f, "cluster.")
	if rest, ok := strings.CutPrefix(f, "controlPlane.peers"); ok {
		return "controlPlanes" + rest
	}
	if rest, ok := strings.CutPrefix(f, "controlPlane.leaderElection"); ok {
		return "leaderElection" + rest
	}
	if rest, ok := strings.CutPrefix(f, "controlPlane.probes"); ok {
		return "probes" + rest
	}
	return f
}
