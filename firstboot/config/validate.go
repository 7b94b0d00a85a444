package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	igerrors "github.com/coreos/ignition/v2/config/shared/errors"
	ignition "github.com/coreos/ignition/v2/config/v3_5"

	"github.com/kiln-build/kiln/firstboot/document"
)

// MinKubernetesMinor is the oldest Kubernetes minor release kiln forms
// clusters with (kubeadm v1beta3, containerd only).
const MinKubernetesMinor = 22

var (
	versionRE   = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`)
	tokenRE     = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	hashRE      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelNameRE = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

// Validate checks every field and the relations between them (see
// docs/metadata.md, "Cross-field rules"). It returns nil or the *Error
// values found, joined (see Errors). Call SetDefaults first: an unset field
// that has a default is an error here.
func (c *NodeConfig) Validate() error {
	var errs errorList
	if c.APIVersion != APIVersion {
		errs.Add("apiVersion", "%q is not supported (want %q)", c.APIVersion, APIVersion)
	}
	if c.Kind != KindNodeConfig {
		errs.Add("kind", "%q is not %q", c.Kind, KindNodeConfig)
	}
	c.Cluster.validate(&errs)
	c.validateSecrets(&errs)
	c.validateNode(&errs)
	for i, h := range c.Hosts {
		p := fmt.Sprintf("hosts[%d]", i)
		checkIP(&errs, p+".address", h.Address)
		if len(h.Hostnames) == 0 {
			errs.Add(p+".hostnames", "must list at least one name")
		}
		for j, name := range h.Hostnames {
			if !isDNSSubdomain(strings.ToLower(name)) {
				errs.Add(fmt.Sprintf("%s.hostnames[%d]", p, j), "%q is not a host name", name)
			}
		}
	}
	if len(c.Ignition) > 0 {
		validateIgnition(&errs, c.Ignition)
	}
	return errs.Err()
}

// Validate checks the cluster-wide fields, except Secrets, whose rules
// depend on the node's role. Errors name fields under "cluster.".
func (c *Cluster) Validate() error {
	var errs errorList
	c.validate(&errs)
	return errs.Err()
}

func (c *Cluster) validate(errs *errorList) {
	if !isDNSSubdomain(c.Name) {
		errs.Add("cluster.name", "%q is not a DNS-1123 name (lower-case letters, digits, '-' and '.')", c.Name)
	}
	if err := checkKubernetesVersion(c.KubernetesVersion); err != nil {
		errs.Add("cluster.kubernetesVersion", "%v", err)
	}

	ep := c.ControlPlaneEndpoint
	vip, vipOK := checkIP(errs, "cluster.controlPlaneEndpoint.vip", ep.VIP)
	if ep.Port < 1 || ep.Port > 65535 {
		errs.Add("cluster.controlPlaneEndpoint.port", "%d is not a TCP port (1-65535)", ep.Port)
	}
	if ep.DNSName != "" && !isDNSSubdomain(ep.DNSName) {
		errs.Add("cluster.controlPlaneEndpoint.dnsName", "%q is not a DNS-1123 name", ep.DNSName)
	}

	lb := c.LoadBalancer
	switch lb.Mode {
	case LBKeepalivedHAProxy:
		if ep.Port == DefaultAPIServerPort {
			errs.Add("cluster.controlPlaneEndpoint.port", "6443 is kube-apiserver's own port on the control planes; haproxy needs another (default %d)", DefaultHAProxyPort)
		}
		if lb.VirtualRouterID < 1 || lb.VirtualRouterID > 255 {
			errs.Add("cluster.loadBalancer.virtualRouterID", "%d is not a VRRP router ID (1-255)", lb.VirtualRouterID)
		}
		if len(lb.AuthPass) > 8 {
			errs.Add("cluster.loadBalancer.authPass", "is %d characters; keepalived uses at most 8", len(lb.AuthPass))
		}
		if hc := lb.HealthCheck; hc != nil {
			if *hc == (LBHealthCheck{}) {
				errs.Add("cluster.loadBalancer.healthCheck", "set at least one of intervalSeconds, timeoutSeconds, fall, rise (or leave healthCheck out)")
			}
			inRanges(errs, "cluster.loadBalancer.healthCheck.", []bounded{{"intervalSeconds", hc.IntervalSeconds, 60},
				{"timeoutSeconds", hc.TimeoutSeconds, 60}, {"fall", hc.Fall, 20}, {"rise", hc.Rise, 20}})
		}
	case LBKubeVIP:
		if ep.Port != DefaultAPIServerPort {
			errs.Add("cluster.controlPlaneEndpoint.port", "%d: kube-vip leads the VIP straight to kube-apiserver, so the port must be %d", ep.Port, DefaultAPIServerPort)
		}
		onlyKeepalived(errs, lb)
	case LBExternal:
		if lb.Interface != "" {
			errs.Add("cluster.loadBalancer.interface", "is not used with an external load balancer")
		}
		onlyKeepalived(errs, lb)
	default:
		errs.Add("cluster.loadBalancer.mode", "%q is not a load-balancer mode (want %s, %s or %s)", lb.Mode, LBKeepalivedHAProxy, LBKubeVIP, LBExternal)
	}
	if lb.Interface != "" && !isInterfaceName(lb.Interface) {
		errs.Add("cluster.loadBalancer.interface", "%q is not a network interface name", lb.Interface)
	}

	nw := c.Networking
	pods, podsOK := checkSubnet(errs, "cluster.networking.podSubnet", nw.PodSubnet)
	svcs, svcsOK := checkSubnet(errs, "cluster.networking.serviceSubnet", nw.ServiceSubnet)
	if podsOK && pods.Addr().Is4() && pods.Bits() > 24 {
		errs.Add("cluster.networking.podSubnet", "%s is too small: every node gets a /24 from it", nw.PodSubnet)
	}
	if podsOK && pods.Addr().Is6() && pods.Bits() > 64 {
		errs.Add("cluster.networking.podSubnet", "%s is too small: every node gets a /64 from it", nw.PodSubnet)
	}
	if svcsOK && svcs.Addr().BitLen()-svcs.Bits() > 20 {
		errs.Add("cluster.networking.serviceSubnet", "%s is too large: kube-apiserver allows at most 2^20 service addresses", nw.ServiceSubnet)
	}
	if podsOK && svcsOK && pods.Overlaps(svcs) {
		errs.Add("cluster.networking.serviceSubnet", "%s overlaps the pod subnet %s", nw.ServiceSubnet, nw.PodSubnet)
	}
	if !isDNSSubdomain(nw.DNSDomain) {
		errs.Add("cluster.networking.dnsDomain", "%q is not a DNS-1123 name", nw.DNSDomain)
	}
	inClusterRanges := func(field string, a netip.Addr) {
		if podsOK && pods.Contains(a) {
			errs.Add(field, "%s is inside the pod subnet %s", a, pods)
		}
		if svcsOK && svcs.Contains(a) {
			errs.Add(field, "%s is inside the service subnet %s", a, svcs)
		}
	}
	if vipOK {
		inClusterRanges("cluster.controlPlaneEndpoint.vip", vip)
	}

	if l := c.ControlPlane.LeaderElection; l != nil {
		if _, _, _, err := l.Durations(); err != nil {
			field, msg, _ := strings.Cut(err.Error(), ": ")
			errs.Add("cluster.controlPlane.leaderElection."+field, "%s", msg)
		}
	}

	if p := c.ControlPlane.Probes; p != nil {
		if *p == (Probes{}) {
			errs.Add("cluster.controlPlane.probes", "set at least one of timeoutSeconds, livenessFailureThreshold, startupFailureThreshold (or leave probes out)")
		}
		inRanges(errs, "cluster.controlPlane.probes.", []bounded{{"timeoutSeconds", p.TimeoutSeconds, 600},
			{"livenessFailureThreshold", p.LivenessFailureThreshold, 1000}, {"startupFailureThreshold", p.StartupFailureThreshold, 1000}})
	}

	peers := c.ControlPlane.Peers
	if len(peers) == 0 {
		errs.Add("cluster.controlPlane.peers", "must list at least one control-plane node")
	}
	names := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i, p := range peers {
		f := fmt.Sprintf("cluster.controlPlane.peers[%d]", i)
		if !isDNSSubdomain(p.Name) {
			errs.Add(f+".name", "%q is not a DNS-1123 node name", p.Name)
		} else if j, dup := names[p.Name]; dup {
			errs.Add(f+".name", "%q is already peers[%d]", p.Name, j)
		} else {
			names[p.Name] = i
		}
		a, ok := checkIP(errs, f+".address", p.Address)
		if !ok {
			continue
		}
		if j, dup := addrs[a]; dup {
			errs.Add(f+".address", "%s is already the address of peers[%d]", a, j)
			continue
		}
		addrs[a] = i
		if vipOK && a == vip {
			errs.Add(f+".address", "%s is the control-plane VIP; the VIP must be an address no node has", a)
		}
		inClusterRanges(f+".address", a)
	}

	switch c.CNI {
	case CNIFlannel, CNICalico, CNINone:
	default:
		errs.Add("cluster.cni", "%q is not a CNI kiln installs (want %s, %s or %s)", c.CNI, CNIFlannel, CNICalico, CNINone)
	}
	for i, s := range c.NTPServers {
		if _, err := netip.ParseAddr(s); err != nil && !isDNSSubdomain(s) {
			errs.Add(fmt.Sprintf("cluster.ntpServers[%d]", i), "%q is neither an IP address nor a host name", s)
		}
	}
}

func onlyKeepalived(errs *errorList, lb LoadBalancer) {
	if lb.VirtualRouterID != 0 {
		errs.Add("cluster.loadBalancer.virtualRouterID", "is used only with mode %s", LBKeepalivedHAProxy)
	}
	if lb.AuthPass != "" {
		errs.Add("cluster.loadBalancer.authPass", "is used only with mode %s", LBKeepalivedHAProxy)
	}
	if lb.HealthCheck != nil {
		errs.Add("cluster.loadBalancer.healthCheck", "is used only with mode %s", LBKeepalivedHAProxy)
	}
}

// validateSecrets checks the trust material against the node's role:
// control planes must carry every CA key, workers must carry none.
func (c *NodeConfig) validateSecrets(errs *errorList) {
	s := c.Cluster.Secrets
	const p = "cluster.secrets."
	if s.BootstrapToken != "" && !tokenRE.MatchString(s.BootstrapToken) {
		errs.Add(p+"bootstrapToken", "is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})")
	}
	if !hashRE.MatchString(s.CACertHash) {
		errs.Add(p+"caCertHash", "%q is not a CA certificate hash (sha256:<64 hex digits>)", s.CACertHash)
	}
	if s.KubernetesCA.Cert == "" {
		errs.Add(p+"kubernetesCA.cert", "is required")
	} else if ca := checkCA(errs, p+"kubernetesCA", s.KubernetesCA, c.Node.Role == RoleControlPlane); ca != nil {
		if got := CACertHash(ca); hashRE.MatchString(s.CACertHash) && got != s.CACertHash {
			errs.Add(p+"caCertHash", "%s does not match kubernetesCA.cert (whose hash is %s)", s.CACertHash, got)
		}
	}
	switch c.Node.Role {
	case RoleControlPlane:
		if s.KubernetesCA.Key == "" {
			errs.Add(p+"kubernetesCA.key", "is required on a control-plane node")
		}
		for _, ck := range []struct {
			field string
			v     *CertKey
		}{{"frontProxyCA", s.FrontProxyCA}, {"etcdCA", s.EtcdCA}} {
			if ck.v == nil || ck.v.Cert == "" || ck.v.Key == "" {
				errs.Add(p+ck.field, "certificate and key are required on a control-plane node")
				continue
			}
			checkCA(errs, p+ck.field, *ck.v, true)
		}
		if s.ServiceAccount == nil || s.ServiceAccount.PublicKey == "" || s.ServiceAccount.PrivateKey == "" {
			errs.Add(p+"serviceAccount", "public and private key are required on a control-plane node")
		} else {
			checkServiceAccount(errs, p+"serviceAccount", *s.ServiceAccount)
		}
		if s.NodeCredential != nil {
			errs.Add(p+"nodeCredential", "is for workers; a control plane makes its own from kubernetesCA.key")
		}
	case RoleWorker:
		// A worker that is compromised must not be able to mint cluster credentials.
		if s.KubernetesCA.Key != "" {
			errs.Add(p+"kubernetesCA.key", "must not be given to a worker node")
		}
		if s.FrontProxyCA != nil {
			errs.Add(p+"frontProxyCA", "must not be given to a worker node")
		}
		if s.EtcdCA != nil {
			errs.Add(p+"etcdCA", "must not be given to a worker node")
		}
		if s.ServiceAccount != nil {
			errs.Add(p+"serviceAccount", "must not be given to a worker node")
		}
		switch nc := s.NodeCredential; {
		case nc == nil && s.BootstrapToken == "":
			errs.Add(p+"nodeCredential", "is required on a worker (kiln metadata mints one), unless it joins with a bootstrapToken")
		case nc != nil && s.BootstrapToken != "":
			errs.Add(p+"bootstrapToken", "is given together with nodeCredential; a worker joins with one of them")
		case nc != nil:
			if _, err := ParseCertificatePEM(nc.Cert); err != nil {
				errs.Add(p+"nodeCredential.cert", "%v", err)
			}
			if _, err := ParsePrivateKeyPEM(nc.Key); err != nil {
				errs.Add(p+"nodeCredential.key", "%v", err)
			}
		}
	}
}

// checkCA parses a CA certificate (and its key if withKey and present) and
// reports what is wrong with them; it returns the certificate if it parsed.
func checkCA(errs *errorList, field string, ck CertKey, withKey bool) *x509.Certificate {
	cert, err := ParseCertificatePEM(ck.Cert)
	if err != nil {
		errs.Add(field+".cert", "%v", err)
		return nil
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		errs.Add(field+".cert", "certificate %q is not a CA certificate (needs basicConstraints CA:TRUE and keyCertSign)", cert.Subject.CommonName)
	}
	if !withKey || ck.Key == "" {
		return cert
	}
	key, err := ParsePrivateKeyPEM(ck.Key)
	if err != nil {
		errs.Add(field+".key", "%v", err)
		return cert
	}
	if !samePublicKey(key, cert.PublicKey) {
		errs.Add(field+".key", "does not belong to the certificate %q", cert.Subject.CommonName)
	}
	return cert
}

func checkServiceAccount(errs *errorList, field string, kp KeyPair) {
	pub, err := ParsePublicKeyPEM(kp.PublicKey)
	if err != nil {
		errs.Add(field+".publicKey", "%v", err)
	}
	key, err := ParsePrivateKeyPEM(kp.PrivateKey)
	if err != nil {
		errs.Add(field+".privateKey", "%v", err)
	}
	if pub != nil && key != nil && !samePublicKey(key, pub) {
		errs.Add(field+".privateKey", "does not belong to publicKey")
	}
}

func (c *NodeConfig) validateNode(errs *errorList) {
	n := c.Node
	if !isDNSSubdomain(n.Name) {
		errs.Add("node.name", "%q is not a DNS-1123 node name (lower-case letters, digits, '-' and '.')", n.Name)
	}
	switch n.Role {
	case RoleControlPlane, RoleWorker:
	default:
		errs.Add("node.role", "%q is not a role (want %s or %s)", n.Role, RoleControlPlane, RoleWorker)
	}

	nw := n.Network
	var addr netip.Prefix
	var addrOK bool
	switch nw.Mode {
	case NetworkStatic:
		if nw.Address == "" {
			errs.Add("node.network.address", "is required with mode static (e.g. 10.0.0.5/24)")
		} else if p, err := netip.ParsePrefix(nw.Address); err != nil {
			errs.Add("node.network.address", "%q is not an address with a prefix length (e.g. 10.0.0.5/24)", nw.Address)
		} else if p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen()-1 {
			errs.Add("node.network.address", "%s is the network's own address, not a host address", nw.Address)
		} else if a := p.Addr(); a.Zone() != "" || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
			errs.Add("node.network.address", "%s is not a usable host address", nw.Address)
		} else {
			addr, addrOK = p, true
		}
		if nw.Gateway != "" {
			if gw, ok := checkIP(errs, "node.network.gateway", nw.Gateway); ok && addrOK {
				if !addr.Masked().Contains(gw) {
					errs.Add("node.network.gateway", "%s is outside the node's network %s", gw, addr.Masked())
				} else if gw == addr.Addr() {
					errs.Add("node.network.gateway", "%s is the node's own address", gw)
				}
			}
		}
	case NetworkDHCP:
		if nw.Address != "" {
			errs.Add("node.network.address", "is used only with mode static")
		}
		if nw.Gateway != "" {
			errs.Add("node.network.gateway", "is used only with mode static")
		}
	default:
		errs.Add("node.network.mode", "%q is not a network mode (want %s or %s)", nw.Mode, NetworkDHCP, NetworkStatic)
	}
	if nw.Interface != "" && !isInterfaceName(nw.Interface) {
		errs.Add("node.network.interface", "%q is not a network interface name", nw.Interface)
	}
	for i, d := range nw.DNS {
		checkIP(errs, fmt.Sprintf("node.network.dns[%d]", i), d)
	}

	cl := c.Cluster
	vip, vipErr := netip.ParseAddr(cl.ControlPlaneEndpoint.VIP)
	if addrOK {
		if vipErr == nil && addr.Addr() == vip {
			errs.Add("node.network.address", "%s is the control-plane VIP; the VIP must be an address no node has", vip)
		}
		for _, s := range []struct{ field, cidr string }{{"pod", cl.Networking.PodSubnet}, {"service", cl.Networking.ServiceSubnet}} {
			if p, err := netip.ParsePrefix(s.cidr); err == nil && p.Contains(addr.Addr()) {
				errs.Add("node.network.address", "%s is inside the %s subnet %s", addr.Addr(), s.field, p)
			}
		}
	}

	// Where the node stands in the peer list.
	peer := -1
	for i, p := range cl.ControlPlane.Peers {
		if p.Name == n.Name {
			peer = i
		}
	}
	switch n.Role {
	case RoleControlPlane:
		if peer < 0 {
			errs.Add("node.name", "control-plane node %q is not in cluster.controlPlane.peers", n.Name)
			break
		}
		pa, err := netip.ParseAddr(cl.ControlPlane.Peers[peer].Address)
		if err == nil && addrOK && pa != addr.Addr() {
			errs.Add("node.network.address", "%s differs from this node's address in cluster.controlPlane.peers[%d] (%s)", addr.Addr(), peer, pa)
		}
		// The VIP moves between control planes on their own link (VRRP or
		// gratuitous ARP), so it must be on the control planes' network.
		if addrOK && vipErr == nil && cl.LoadBalancer.Mode != LBExternal && !addr.Masked().Contains(vip) {
			errs.Add("cluster.controlPlaneEndpoint.vip", "%s is outside this control plane's network %s; %s can only move the VIP within it", vip, addr.Masked(), cl.LoadBalancer.Mode)
		}
	case RoleWorker:
		if peer >= 0 {
			errs.Add("node.name", "worker %q is listed in cluster.controlPlane.peers[%d]", n.Name, peer)
		}
		if addrOK {
			for i, p := range cl.ControlPlane.Peers {
				if pa, err := netip.ParseAddr(p.Address); err == nil && pa == addr.Addr() {
					errs.Add("node.network.address", "%s is the address of control plane cluster.controlPlane.peers[%d] (%s)", pa, i, p.Name)
				}
			}
		}
	}

	for _, k := range sortedKeys(n.Labels) {
		f := document.KeyPath("node.labels", k)
		if err := checkQualifiedName(k); err != nil {
			errs.Add(f, "key %v", err)
		}
		if err := checkKubeletLabel(k); err != nil {
			errs.Add(f, "%v", err)
		}
		if v := n.Labels[k]; v != "" && (len(v) > 63 || !labelNameRE.MatchString(v)) {
			errs.Add(f, "value %q is not a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)", v)
		}
	}
	for i, t := range n.Taints {
		f := fmt.Sprintf("node.taints[%d]", i)
		if err := checkQualifiedName(t.Key); err != nil {
			errs.Add(f+".key", "%v", err)
		}
		if t.Value != "" && (len(t.Value) > 63 || !labelNameRE.MatchString(t.Value)) {
			errs.Add(f+".value", "%q is not a taint value", t.Value)
		}
		switch t.Effect {
		case "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			errs.Add(f+".effect", "%q is not a taint effect (want NoSchedule, PreferNoSchedule or NoExecute)", t.Effect)
		}
	}
}

func validateIgnition(errs *errorList, raw Ignition) {
	_, rpt, err := ignition.ParseCompatibleVersion(raw)
	reported := false
	for _, e := range rpt.Entries {
		// Ignition only warns about keys it does not know; kiln refuses
		// them, as it does in the rest of the document, because a
		// misspelt key silently does nothing on a node nobody logs into.
		if !e.Kind.IsFatal() && !strings.HasPrefix(e.Message, "unused key") {
			continue
		}
		field := "ignition"
		for _, el := range e.Context.Path {
			switch v := el.(type) {
			case int:
				field += "[" + strconv.Itoa(v) + "]"
			default:
				field += "." + fmt.Sprint(v)
			}
		}
		msg := e.Message
		if strings.HasPrefix(msg, "unused key") {
			msg = "unknown field"
		}
		errs.Add(field, "%s", msg)
		reported = true
	}
	if err != nil && !reported {
		switch {
		case errors.Is(err, igerrors.ErrUnknownVersion), errors.Is(err, igerrors.ErrInvalidVersion):
			errs.Add("ignition.ignition.version", "%v (want 3.0.0 to 3.5.0)", err)
		default:
			errs.Add("ignition", "%v", err)
		}
	}
}

func checkKubernetesVersion(v string) error {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("%q is not a Kubernetes release (want vX.Y.Z, e.g. v1.34.2)", v)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major != 1 || minor < MinKubernetesMinor {
		return fmt.Errorf("%s is older than v1.%d, the oldest release kiln supports", v, MinKubernetesMinor)
	}
	return nil
}

func checkIP(errs *errorList, field, s string) (netip.Addr, bool) {
	if s == "" {
		errs.Add(field, "is required")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		errs.Add(field, "%q is not an IP address", s)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
		errs.Add(field, "%s is not a usable host address", a)
		return netip.Addr{}, false
	}
	return a, true
}

func checkSubnet(errs *errorList, field, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		errs.Add(field, "%q is not a CIDR subnet (e.g. 10.244.0.0/16)", s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		errs.Add(field, "%s has host bits set; the subnet is %s", s, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func isDNSLabel(s string) bool {
	return len(s) <= 63 && dnsLabelRE.MatchString(s)
}

func isDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}

// isInterfaceName follows Linux's dev_valid_name.
func isInterfaceName(s string) bool {
	return s != "" && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}

// CheckNodeName reports whether name is usable as a node name (node.name,
// a peer's name): a DNS-1123 subdomain, as Kubernetes requires.
func CheckNodeName(name string) error {
	if !isDNSSubdomain(name) {
		return fmt.Errorf("%q is not a DNS-1123 node name (lower-case letters, digits, '-' and '.')", name)
	}
	return nil
}

// CheckInterfaceName reports whether name is a valid Linux interface name.
func CheckInterfaceName(name string) error {
	if !isInterfaceName(name) {
		return fmt.Errorf("%q is not a network interface name", name)
	}
	return nil
}

// checkQualifiedName checks a Kubernetes label or taint key: [prefix/]name.
func checkQualifiedName(k string) error {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && !isDNSSubdomain(prefix) {
		return fmt.Errorf("%q has a prefix that is not a DNS-1123 name", k)
	}
	if name == "" || len(name) > 63 || !labelNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a qualified name (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, optionally prefixed by a DNS name and '/')", k)
	}
	return nil
}

// kubeletLabels are the labels in the kubernetes.io and k8s.io namespaces
// that the kubelet may set on its own Node (--node-labels), as the
// NodeRestriction admission plugin allows.
var kubeletLabels = map[string]bool{
	"kubernetes.io/hostname": true, "kubernetes.io/os": true, "kubernetes.io/arch": true,
	"beta.kubernetes.io/os": true, "beta.kubernetes.io/arch": true, "beta.kubernetes.io/instance-type": true,
	"node.kubernetes.io/instance-type": true,
	"topology.kubernetes.io/zone":      true, "topology.kubernetes.io/region": true,
	"failure-domain.beta.kubernetes.io/zone": true, "failure-domain.beta.kubernetes.io/region": true,
}

// checkKubeletLabel refuses labels the kubelet would be refused (it then
// fails to start), such as node-role.kubernetes.io/worker.
func checkKubeletLabel(key string) error {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok || kubeletLabels[key] {
		return nil
	}
	inNS := func(ns string) bool { return prefix == ns || strings.HasSuffix(prefix, "."+ns) }
	if prefix == "node-restriction.kubernetes.io" || inNS("kubernetes.io") || inNS("k8s.io") {
		if (inNS("kubelet.kubernetes.io") || inNS("node.kubernetes.io")) && prefix != "node-restriction.kubernetes.io" {
			return nil
		}
		return fmt.Errorf("the kubelet may not set %q on its node: under kubernetes.io and k8s.io only node.kubernetes.io/*, kubelet.kubernetes.io/* and the well-known topology, os and arch labels are allowed (node-role labels must be set through the API)", key)
	}
	return nil
}

// bounded is an optional integer field (0: unset) and its upper bound.
type bounded struct {
	name   string
	v, max int
}

// inRanges reports each set field outside 1..max, named prefix+name.
func inRanges(errs *errorList, prefix string, fields []bounded) {
	for _, f := range fields {
		if f.v < 0 || f.v > f.max {
			errs.Add(prefix+f.name, "%d is not between 1 and %d", f.v, f.max)
		}
	}
}
