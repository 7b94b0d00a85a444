package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
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

// NodeConfig derives the metadata of the named node. Control planes get the
// CA keys and service-account keys; workers get the bootstrap token, the CA
// hash and the Kubernetes CA certificate, never a private key. The result
// is defaulted and validated; every worker is listed under hosts so that
// each node can resolve every other (the agent adds the VIP and the
// control planes itself).
func (b *Bundle) NodeConfig(name string) (*config.NodeConfig, error) {
	n, ok := b.Spec.node(name)
	if !ok {
		return nil, fmt.Errorf("node %q is not in cluster %s", name, b.Spec.Name)
	}
	c := b.Spec.cluster()
	c.Secrets = config.Secrets{
		BootstrapToken: b.Token,
		CACertHash:     b.Spec.CACertHash,
		KubernetesCA:   config.CertKey{Cert: b.KubernetesCA.Cert},
	}
	if n.Role == config.RoleControlPlane {
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
