package config

// The document's identity. A future incompatible schema gets a new
// APIVersion; the agent refuses versions it does not know.
const (
	APIVersion     = "kiln/v1"
	KindNodeConfig = "NodeConfig"
)

// NodeConfig is everything one node needs to take its place in a cluster on
// first boot: the cluster it belongs to (shared by every node), the node
// itself, extra /etc/hosts entries and an optional Ignition config. docs/metadata.md
// describes each field, its default and who reads it.
type NodeConfig struct {
	APIVersion string      `yaml:"apiVersion" json:"apiVersion"`
	Kind       string      `yaml:"kind" json:"kind"`
	Cluster    Cluster     `yaml:"cluster" json:"cluster"`
	Node       Node        `yaml:"node" json:"node"`
	Hosts      []HostEntry `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	Ignition   Ignition    `yaml:"ignition,omitempty" json:"ignition,omitempty"`
}

// Cluster is the part of a NodeConfig that every node of a cluster shares,
// except Secrets, of which workers get only the public half.
type Cluster struct {
	Name                 string               `yaml:"name" json:"name"`
	KubernetesVersion    string               `yaml:"kubernetesVersion" json:"kubernetesVersion"`
	ControlPlaneEndpoint ControlPlaneEndpoint `yaml:"controlPlaneEndpoint" json:"controlPlaneEndpoint"`
	LoadBalancer         LoadBalancer         `yaml:"loadBalancer" json:"loadBalancer"`
	Networking           Networking           `yaml:"networking" json:"networking"`
	ControlPlane         ControlPlane         `yaml:"controlPlane" json:"controlPlane"`
	CNI                  CNI                  `yaml:"cni" json:"cni"`
	NTPServers           []string             `yaml:"ntpServers,omitempty" json:"ntpServers,omitempty"`
	Secrets              Secrets              `yaml:"secrets" json:"secrets"`
}

// ControlPlaneEndpoint is where every node and client reaches the API server:
// the virtual IP and port the load balancer serves.
type ControlPlaneEndpoint struct {
	VIP     string `yaml:"vip" json:"vip"`
	Port    int    `yaml:"port" json:"port"`
	DNSName string `yaml:"dnsName,omitempty" json:"dnsName,omitempty"`
}

// LoadBalancer says what serves the control-plane endpoint.
type LoadBalancer struct {
	Mode LBMode `yaml:"mode" json:"mode"`
	// Interface carries the VIP (VRRP or ARP); empty means the interface that
	// holds the node's own address, found at boot.
	Interface       string `yaml:"interface,omitempty" json:"interface,omitempty"`
	VirtualRouterID int    `yaml:"virtualRouterID,omitempty" json:"virtualRouterID,omitempty"`
	AuthPass        string `yaml:"authPass,omitempty" json:"authPass,omitempty"`
	// HealthCheck, with keepalived-haproxy, replaces keepalived's check
	// timings (every 2 s, each request at most 2 s, 3 failures to give the
	// VIP up, 2 successes to take it back).
	HealthCheck *LBHealthCheck `yaml:"healthCheck,omitempty" json:"healthCheck,omitempty"`
}

// LBHealthCheck is how keepalived checks its node. On slow or
// overcommitted hosts a healthy API server often takes over 2 s to answer
// and the defaults move the VIP back and forth; longer timings keep it, at
// the cost of a slower failover (about intervalSeconds × fall). Unset
// fields keep the defaults.
type LBHealthCheck struct {
	IntervalSeconds int `yaml:"intervalSeconds,omitempty" json:"intervalSeconds,omitempty"`
	TimeoutSeconds  int `yaml:"timeoutSeconds,omitempty" json:"timeoutSeconds,omitempty"`
	Fall            int `yaml:"fall,omitempty" json:"fall,omitempty"`
	Rise            int `yaml:"rise,omitempty" json:"rise,omitempty"`
}

// LBMode is how the control-plane VIP is served.
type LBMode string

// The load-balancer modes.
const (
	// LBKeepalivedHAProxy runs keepalived (VRRP, unicast peers) and haproxy
	// (VIP:port -> every apiserver :6443) as static pods on the control planes.
	LBKeepalivedHAProxy LBMode = "keepalived-haproxy"
	// LBKubeVIP runs kube-vip as a static pod announcing the VIP by ARP; the
	// VIP leads straight to kube-apiserver, so the port is 6443.
	LBKubeVIP LBMode = "kube-vip"
	// LBExternal means something outside the cluster serves VIP:port.
	LBExternal LBMode = "external"
)

// Networking holds the cluster-wide address ranges.
type Networking struct {
	PodSubnet     string `yaml:"podSubnet" json:"podSubnet"`
	ServiceSubnet string `yaml:"serviceSubnet" json:"serviceSubnet"`
	DNSDomain     string `yaml:"dnsDomain" json:"dnsDomain"`
}

// ControlPlane lists the control-plane nodes in bootstrap order.
type ControlPlane struct {
	// Peers[0] runs kubeadm init; the others join one at a time.
	Peers []Peer `yaml:"peers" json:"peers"`
	// LeaderElection, when set, replaces kube-controller-manager's and
	// kube-scheduler's leader-election timings (15s, 10s, 2s by default).
	LeaderElection *LeaderElection `yaml:"leaderElection,omitempty" json:"leaderElection,omitempty"`
	// Probes, when set, loosens the health probes of the control plane's
	// static pods (etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler) through kubeadm patches.
	Probes *Probes `yaml:"probes,omitempty" json:"probes,omitempty"`
}

// Probes loosens the liveness and startup probes kubeadm puts on the
// control plane's static pods (timeout 15 s; restart after 8 failed
// liveness probes 10 s apart, or when the startup probes have not passed
// after 24). On a starved host an API server that misses them is
// restarted, and its restart starves the rest. Unset fields keep kubeadm's
// values; at least one is set.
type Probes struct {
	TimeoutSeconds           int `yaml:"timeoutSeconds,omitempty" json:"timeoutSeconds,omitempty"`
	LivenessFailureThreshold int `yaml:"livenessFailureThreshold,omitempty" json:"livenessFailureThreshold,omitempty"`
	StartupFailureThreshold  int `yaml:"startupFailureThreshold,omitempty" json:"startupFailureThreshold,omitempty"`
}

// LeaderElection is the control plane's controllers' leader-election
// timing, as Go durations ("137s", "2m"). On hosts too slow for the
// defaults (an API server that takes over 10 seconds to answer, such as
// software-emulated VMs) a controller manager loses its lease, restarts
// and never finishes syncing; longer timings keep it up at the cost of a
// slower failover. All three are set together.
type LeaderElection struct {
	LeaseDuration string `yaml:"leaseDuration" json:"leaseDuration"`
	RenewDeadline string `yaml:"renewDeadline" json:"renewDeadline"`
	RetryPeriod   string `yaml:"retryPeriod" json:"retryPeriod"`
}

// Peer is one control-plane node: its node name and the address its
// apiserver and etcd advertise.
type Peer struct {
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address" json:"address"`
}

// CNI is the pod network add-on the bootstrap node applies.
type CNI string

// The CNIs kiln knows how to install.
const (
	CNIFlannel CNI = "flannel"
	CNICalico  CNI = "calico"
	CNINone    CNI = "none"
)

// Secrets is the cluster's trust material. Control planes carry the CA
// keys and service-account keys so that any of them can join at any time
// (they mint their own join credential from the CA key); workers carry
// only what kubeadm join needs: the CA certificate and a credential that
// is valid for that node only and expires (NodeCredential).
type Secrets struct {
	// BootstrapToken is a kubeadm bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}.
	// Optional. On a control plane it is the token kubeadm init makes
	// (kubeadm's 24-hour TTL; nothing extends it). A worker may join with
	// one instead of a NodeCredential, for a token made by hand with
	// kubeadm token create; kiln gives workers a NodeCredential.
	BootstrapToken string `yaml:"bootstrapToken,omitempty" json:"bootstrapToken,omitempty"`
	// CACertHash is kubeadm's discovery-token-ca-cert-hash:
	// "sha256:" + hex(sha256(SubjectPublicKeyInfo DER of the Kubernetes CA)).
	CACertHash     string   `yaml:"caCertHash" json:"caCertHash"`
	KubernetesCA   CertKey  `yaml:"kubernetesCA" json:"kubernetesCA"`
	FrontProxyCA   *CertKey `yaml:"frontProxyCA,omitempty" json:"frontProxyCA,omitempty"`
	EtcdCA         *CertKey `yaml:"etcdCA,omitempty" json:"etcdCA,omitempty"`
	ServiceAccount *KeyPair `yaml:"serviceAccount,omitempty" json:"serviceAccount,omitempty"`
	// NodeCredential is a worker's join credential: a client certificate
	// for system:node:NAME in system:nodes signed by the Kubernetes CA,
	// and its key. It expires (kiln metadata --credential-ttl); the agent
	// refuses it once expired or when it names another node. See package
	// firstboot/credential.
	NodeCredential *CertKey `yaml:"nodeCredential,omitempty" json:"nodeCredential,omitempty"`
}

// CertKey is a PEM certificate and, on control planes, its PEM private key.
type CertKey struct {
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key,omitempty" json:"key,omitempty"`
}

// KeyPair is the service-account signing key pair (kubeadm's sa.key, sa.pub).
type KeyPair struct {
	PublicKey  string `yaml:"publicKey" json:"publicKey"`
	PrivateKey string `yaml:"privateKey" json:"privateKey"`
}

// Node describes the node reading the document.
type Node struct {
	Name    string            `yaml:"name" json:"name"`
	Role    Role              `yaml:"role" json:"role"`
	Network Network           `yaml:"network" json:"network"`
	Labels  map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Taints  []Taint           `yaml:"taints,omitempty" json:"taints,omitempty"`
}

// Role is what a node does in the cluster.
type Role string

// The node roles.
const (
	RoleControlPlane Role = "control-plane"
	RoleWorker       Role = "worker"
)

// Network is how the node configures its primary interface.
type Network struct {
	Mode NetworkMode `yaml:"mode" json:"mode"`
	// Interface is the NIC to configure; empty means the first Ethernet
	// interface, found at boot.
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty"`
	// Address is the static address with its prefix length, e.g. 10.0.0.5/24.
	Address string   `yaml:"address,omitempty" json:"address,omitempty"`
	Gateway string   `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	DNS     []string `yaml:"dns,omitempty" json:"dns,omitempty"`
}

// NetworkMode says where the node's address comes from.
type NetworkMode string

// The network modes.
const (
	NetworkDHCP   NetworkMode = "dhcp"
	NetworkStatic NetworkMode = "static"
)

// Taint is a Kubernetes node taint registered at join time.
type Taint struct {
	Key    string `yaml:"key" json:"key"`
	Value  string `yaml:"value,omitempty" json:"value,omitempty"`
	Effect string `yaml:"effect" json:"effect"`
}

// HostEntry is one extra /etc/hosts line.
type HostEntry struct {
	Address   string   `yaml:"address" json:"address"`
	Hostnames []string `yaml:"hostnames" json:"hostnames"`
}
