package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

// Options describe a new cluster. Zero values take config's defaults (the
// seed topology: keepalived-haproxy on VIP:8443, flannel on 10.244.0.0/16).
type Options struct {
	Name              string
	KubernetesVersion string // vX.Y.Z
	VIP               string
	Port              int // 0: 8443 for keepalived-haproxy, else 6443
	DNSName           string
	LoadBalancer      config.LoadBalancer
	Networking        config.Networking
	CNI               config.CNI
	NTPServers        []string
	NodeNetwork       NodeNetwork
	ControlPlanes     []config.Peer // bootstrap order
	Workers           []config.Peer
	// LeaderElection, when set, slows the controllers' leader election
	// (see config.LeaderElection).
	LeaderElection *config.LeaderElection
	// Probes, when set, loosens the control plane's static pods' probes
	// (see config.Probes).
	Probes *config.Probes
	// Now is when the CAs' validity starts (less kubeadm's 5-minute
	// backdate); zero means time.Now().
	Now time.Time
}

// Bundle is a cluster's description and secrets: what `kiln cluster new`
// writes to a directory and what each node's metadata is derived from.
type Bundle struct {
	Spec           Spec
	Token          string
	KubernetesCA   config.CertKey // pki/ca.crt, pki/ca.key
	FrontProxyCA   config.CertKey // pki/front-proxy-ca.crt, .key
	EtcdCA         config.CertKey // pki/etcd/ca.crt, .key
	ServiceAccount config.KeyPair // pki/sa.pub, pki/sa.key
}

// New checks opts, then makes the cluster's CAs (RSA 2048, as kubeadm
// does), service-account key pair and bootstrap token. Every error about
// opts is a *config.Error naming the cluster.yaml field (see Errors in
// package config). Nothing but the keys, serials and token is random.
func New(opts Options) (*Bundle, error) {
	s := Spec{
		APIVersion:        config.APIVersion,
		Kind:              KindCluster,
		Name:              opts.Name,
		KubernetesVersion: opts.KubernetesVersion,
		ControlPlaneEndpoint: config.ControlPlaneEndpoint{
			VIP: opts.VIP, Port: opts.Port, DNSName: opts.DNSName,
		},
		LoadBalancer:  opts.LoadBalancer,
		Networking:    opts.Networking,
		CNI:           opts.CNI,
		NTPServers:    append([]string(nil), opts.NTPServers...),
		NodeNetwork:   opts.NodeNetwork,
		ControlPlanes: append([]config.Peer(nil), opts.ControlPlanes...),
		Workers:       append([]config.Peer(nil), opts.Workers...),
		CACertHash:    "sha256:" + zeroHash, // replaced below, once the CA exists
	}
	s.NodeNetwork.DNS = append([]string(nil), opts.NodeNetwork.DNS...)
	if l := opts.LeaderElection; l != nil {
		c := *l
		s.LeaderElection = &c
	}
	if p := opts.Probes; p != nil {
		c := *p
		s.Probes = &c
	}
	s.setDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}

	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	b := &Bundle{Spec: s}
	var err error
	if b.KubernetesCA, err = newCA(KubernetesCAName, now); err != nil {
		return nil, err
	}
	if b.FrontProxyCA, err = newCA(FrontProxyCAName, now); err != nil {
		return nil, err
	}
	if b.EtcdCA, err = newCA(EtcdCAName, now); err != nil {
		return nil, err
	}
	if b.ServiceAccount, err = newServiceAccountKey(); err != nil {
		return nil, err
	}
	if b.Token, err = NewBootstrapToken(); err != nil {
		return nil, err
	}
	if b.Spec.ID, err = newID(); err != nil {
		return nil, err
	}
	ca, err := config.ParseCertificatePEM(b.KubernetesCA.Cert)
	if err != nil {
		return nil, fmt.Errorf("reading back the new CA: %w", err)
	}
	b.Spec.CACertHash = config.CACertHash(ca)
	if err := b.check(); err != nil {
		return nil, err
	}
	return b, nil
}

// newID makes a bundle ID: 128 random bits in hex.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making the bundle ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// check validates the whole bundle by deriving and validating every node's
// metadata, so that a bundle that loads is one whose nodes can all boot.
func (b *Bundle) check() error {
	if err := b.Spec.validate(); err != nil {
		return err
	}
	for _, n := range b.Spec.Nodes() {
		if _, err := b.NodeConfig(n.Name); err != nil {
			return err
		}
	}
	return nil
}

// NodeOptions say how to derive a node's metadata. Zero values take the
// defaults.
type NodeOptions struct {
	// CredentialTTL is how long a worker's join credential is valid; 0
	// means credential.DefaultTTL (24h). It must not be negative.
	CredentialTTL time.Duration
	// Now is when the credential's validity starts; zero means time.Now().
	Now time.Time
}

// NodeConfig is NodeConfigWith with the default options: a worker's
// credential is valid for 24 hours from now.
func (b *Bundle) NodeConfig(name string) (*config.NodeConfig, error) {
	return b.NodeConfigWith(name, NodeOptions{})
}

// NodeConfigWith derives the metadata of the named node. Control planes get
// the CA keys, the service-account keys and the bootstrap token kubeadm init
// makes; workers get the Kubernetes CA certificate, its hash and a new
// credential for that node alone that expires after opts.CredentialTTL
// (package credential), never a CA key or a token. The result is defaulted
// and validated; every worker is listed under hosts so that each node can
// resolve every other (the agent adds the VIP and the control planes
// itself).
func (b *Bundle) NodeConfigWith(name string, opts NodeOptions) (*config.NodeConfig, error) {
	n, ok := b.Spec.node(name)
	if !ok {
		return nil, fmt.Errorf("node %q is not in cluster %s", name, b.Spec.Name)
	}
	c := b.Spec.cluster()
	c.Secrets = config.Secrets{
		CACertHash:   b.Spec.CACertHash,
		KubernetesCA: config.CertKey{Cert: b.KubernetesCA.Cert},
	}
	if n.Role == config.RoleWorker {
		cred, err := b.mintCredential(name, opts)
		if err != nil {
			return nil, err
		}
		c.Secrets.NodeCredential = cred
	}
	if n.Role == config.RoleControlPlane {
		c.Secrets.BootstrapToken = b.Token
		c.Secrets.KubernetesCA.Key = b.KubernetesCA.Key
		fp, etcd, sa := b.FrontProxyCA, b.EtcdCA, b.ServiceAccount
		c.Secrets.FrontProxyCA, c.Secrets.EtcdCA, c.Secrets.ServiceAccount = &fp, &etcd, &sa
	}
	nn := b.Spec.NodeNetwork
	network := config.Network{
		Mode:      config.NetworkDHCP,
		Interface: nn.Interface,
		DNS:       append([]string(nil), nn.DNS...),
	}
	if nn.PrefixLength > 0 {
		network.Mode = config.NetworkStatic
		network.Address = n.Address + "/" + strconv.Itoa(nn.PrefixLength)
		network.Gateway = nn.Gateway
	}
	nc := &config.NodeConfig{
		APIVersion: config.APIVersion,
		Kind:       config.KindNodeConfig,
		Cluster:    c,
		Node:       config.Node{Name: n.Name, Role: n.Role, Network: network},
	}
	for _, w := range b.Spec.Workers {
		nc.Hosts = append(nc.Hosts, config.HostEntry{Address: w.Address, Hostnames: []string{w.Name}})
	}
	nc.SetDefaults()
	if err := nc.Validate(); err != nil {
		return nil, fmt.Errorf("metadata for node %s: %w", name, err)
	}
	return nc, nil
}

// mintCredential makes a worker's join credential.
func (b *Bundle) mintCredential(node string, opts NodeOptions) (*config.CertKey, error) {
	ttl := opts.CredentialTTL
	switch {
	case ttl < 0:
		return nil, &config.Error{Field: "credentialTTL", Msg: fmt.Sprintf("%s is not a lifetime (want a positive duration, e.g. 24h)", ttl)}
	case ttl == 0:
		ttl = credential.DefaultTTL
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	cred, err := credential.Mint(b.KubernetesCA.Cert, b.KubernetesCA.Key, node, now, ttl)
	if err != nil {
		return nil, fmt.Errorf("node %s: minting its join credential with %s: %w", node, CAKeyFile, err)
	}
	return &config.CertKey{Cert: cred.Cert, Key: cred.Key}, nil
}

// RefreshCredential replaces the join credential in a worker's metadata
// (as delivered, perhaps edited: labels, taints, Ignition) with a new one,
// leaving every other field as it is; for a node whose credential expired
// before it joined. The document must be a worker of this bundle's cluster.
func (b *Bundle) RefreshCredential(nc *config.NodeConfig, opts NodeOptions) error {
	n, ok := b.Spec.node(nc.Node.Name)
	switch {
	case nc.Cluster.Name != b.Spec.Name:
		return &config.Error{Field: "cluster.name", Msg: fmt.Sprintf("%q is not this bundle's cluster (%s)", nc.Cluster.Name, b.Spec.Name)}
	case nc.Cluster.Secrets.KubernetesCA.Cert != b.KubernetesCA.Cert:
		return &config.Error{Field: "cluster.secrets.kubernetesCA.cert", Msg: "is not this bundle's CA"}
	case !ok:
		return &config.Error{Field: "node.name", Msg: fmt.Sprintf("%q is not in cluster %s (kiln cluster add-node adds it)", nc.Node.Name, b.Spec.Name)}
	case n.Role != config.RoleWorker || nc.Node.Role != config.RoleWorker:
		return &config.Error{Field: "node.role", Msg: "only a worker carries a join credential; a control plane makes its own"}
	}
	cred, err := b.mintCredential(nc.Node.Name, opts)
	if err != nil {
		return err
	}
	nc.Cluster.Secrets.NodeCredential = cred
	nc.Cluster.Secrets.BootstrapToken = ""
	return nc.Validate()
}

// AddNode adds a node to the bundle (in memory; SaveSpec records it): a
// worker, or a control plane that will join after the existing ones. The
// metadata of nodes already running is not changed by it.
func (b *Bundle) AddNode(role config.Role, name, address string) error {
	next := b.Spec
	next.ControlPlanes = append([]config.Peer(nil), b.Spec.ControlPlanes...)
	next.Workers = append([]config.Peer(nil), b.Spec.Workers...)
	p := config.Peer{Name: name, Address: address}
	switch role {
	case config.RoleControlPlane:
		next.ControlPlanes = append(next.ControlPlanes, p)
	case config.RoleWorker:
		next.Workers = append(next.Workers, p)
	default:
		return &config.Error{Field: "role", Msg: fmt.Sprintf("%q is not a role (want %s or %s)", role, config.RoleControlPlane, config.RoleWorker)}
	}
	old := *b
	b.Spec = next
	if err := b.check(); err != nil {
		*b = old
		return err
	}
	return nil
}

// ErrExists is returned by Write when the directory already holds a bundle.
var ErrExists = errors.New("a cluster bundle already exists there")
