package config

// The defaults SetDefaults fills in. They are the seed topology: keepalived +
// haproxy serving VIP:8443, flannel on 10.244.0.0/16, kubeadm's service
// subnet and DNS domain.
const (
	DefaultLBMode          = LBKeepalivedHAProxy
	DefaultHAProxyPort     = 8443 // haproxy shares the control planes with kube-apiserver's :6443
	DefaultAPIServerPort   = 6443 // kube-vip and external load balancers
	DefaultVirtualRouterID = 51
	DefaultPodSubnet       = "10.244.0.0/16"
	DefaultServiceSubnet   = "10.96.0.0/12"
	DefaultDNSDomain       = "cluster.local"
	DefaultCNI             = CNIFlannel
	DefaultNetworkMode     = NetworkDHCP
)

// SetDefaults fills every unset field that has a default. It never
// overwrites a value, so it is idempotent.
func (c *NodeConfig) SetDefaults() {
	c.Cluster.SetDefaults()
	if c.Node.Network.Mode == "" {
		c.Node.Network.Mode = DefaultNetworkMode
	}
}

// SetDefaults fills the cluster-wide defaults.
func (c *Cluster) SetDefaults() {
	lb := &c.LoadBalancer
	if lb.Mode == "" {
		lb.Mode = DefaultLBMode
	}
	if lb.Mode == LBKeepalivedHAProxy && lb.VirtualRouterID == 0 {
		lb.VirtualRouterID = DefaultVirtualRouterID
	}
	if c.ControlPlaneEndpoint.Port == 0 {
		c.ControlPlaneEndpoint.Port = DefaultAPIServerPort
		if lb.Mode == LBKeepalivedHAProxy {
			c.ControlPlaneEndpoint.Port = DefaultHAProxyPort
		}
	}
	n := &c.Networking
	if n.PodSubnet == "" {
		n.PodSubnet = DefaultPodSubnet
	}
	if n.ServiceSubnet == "" {
		n.ServiceSubnet = DefaultServiceSubnet
	}
	if n.DNSDomain == "" {
		n.DNSDomain = DefaultDNSDomain
	}
	if c.CNI == "" {
		c.CNI = DefaultCNI
	}
}
