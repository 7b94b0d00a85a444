package kubeadm

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The component configuration API versions written next to the kubeadm documents; both
// are served unchanged by every Kubernetes version kiln supports.
const (
	kubeletConfigAPIVersion = "kubelet.config.k8s.io/v1beta1"
	kubeProxyAPIVersion     = "kubeproxy.config.k8s.io/v1alpha1"
)

// Render validates p and returns the kubeadm configuration file for it: for RoleInit an
// InitConfiguration, a ClusterConfiguration, a KubeletConfiguration (cgroupDriver systemd)
// and, when ProxyMode is set, a KubeProxyConfiguration; for the join roles a
// JoinConfiguration. Errors for bad parameters wrap ErrInvalidParams and name the field.
func Render(p Params) ([]byte, error) {
	n, err := normalize(p)
	if err != nil {
		return nil, err
	}
	var docs []any
	switch n.Role {
	case RoleInit:
		docs = []any{n.initConfiguration(), n.clusterConfiguration(), kubeletConfiguration{
			APIVersion:   kubeletConfigAPIVersion,
			Kind:         "KubeletConfiguration",
			CgroupDriver: "systemd",
		}}
		if n.ProxyMode != "" {
			docs = append(docs, kubeProxyConfiguration{APIVersion: kubeProxyAPIVersion, Kind: "KubeProxyConfiguration", Mode: n.ProxyMode})
		}
	default:
		docs = []any{n.joinConfiguration()}
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# kubeadm configuration written by kiln: %s, role %s, Kubernetes %s.\n", n.apiVersion, n.Role, n.version)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("encoding kubeadm configuration: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding kubeadm configuration: %w", err)
	}
	return buf.Bytes(), nil
}

// The documents below mirror the fields of kubeadm's v1beta3 and v1beta4 types that kiln
// sets; where the two versions differ, the field holds the shape for n.apiVersion.

type initConfiguration struct {
	APIVersion       string            `yaml:"apiVersion"`
	Kind             string            `yaml:"kind"`
	BootstrapTokens  []bootstrapToken  `yaml:"bootstrapTokens,omitempty"`
	NodeRegistration nodeRegistration  `yaml:"nodeRegistration"`
	LocalAPIEndpoint apiEndpoint       `yaml:"localAPIEndpoint"`
	CertificateKey   string            `yaml:"certificateKey,omitempty"`
	SkipPhases       []string          `yaml:"skipPhases,omitempty"`
	Patches          *patches          `yaml:"patches,omitempty"`
	Timeouts         map[string]string `yaml:"timeouts,omitempty"` // v1beta4
}

type patches struct {
	Directory string `yaml:"directory"`
}

type bootstrapToken struct {
	Token       string `yaml:"token"`
	Description string `yaml:"description,omitempty"`
	TTL         string `yaml:"ttl,omitempty"`
}

type nodeRegistration struct {
	Name                  string   `yaml:"name"`
	CRISocket             string   `yaml:"criSocket"`
	Taints                taints   `yaml:"taints,omitempty"`
	KubeletExtraArgs      any      `yaml:"kubeletExtraArgs,omitempty"` // map (v1beta3) or []arg (v1beta4)
	IgnorePreflightErrors []string `yaml:"ignorePreflightErrors,omitempty"`
}

// taints is omitted only when nil: kubeadm reads a missing list as "the default taints"
// and an empty one as "no taints".
type taints []taint

func (t taints) IsZero() bool { return t == nil }

type taint struct {
	Key    string `yaml:"key"`
	Value  string `yaml:"value,omitempty"`
	Effect string `yaml:"effect"`
}

type arg struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type apiEndpoint struct {
	AdvertiseAddress string `yaml:"advertiseAddress"`
	BindPort         int    `yaml:"bindPort"`
}

type clusterConfiguration struct {
	APIVersion           string     `yaml:"apiVersion"`
	Kind                 string     `yaml:"kind"`
	ClusterName          string     `yaml:"clusterName"`
	KubernetesVersion    string     `yaml:"kubernetesVersion"`
	ControlPlaneEndpoint string     `yaml:"controlPlaneEndpoint"`
	ImageRepository      string     `yaml:"imageRepository,omitempty"`
	Etcd                 *etcd      `yaml:"etcd,omitempty"`
	DNS                  *imageMeta `yaml:"dns,omitempty"`
	Networking           networking `yaml:"networking"`
	APIServer            apiServer  `yaml:"apiServer"`
	ControllerManager    *component `yaml:"controllerManager,omitempty"`
	Scheduler            *component `yaml:"scheduler,omitempty"`
}

// component is a ClusterConfiguration's controllerManager or scheduler.
type component struct {
	ExtraArgs any `yaml:"extraArgs"` // map (v1beta3) or []arg (v1beta4)
}

type etcd struct {
	Local imageMeta `yaml:"local"`
}

type imageMeta struct {
	ImageRepository string `yaml:"imageRepository,omitempty"`
	ImageTag        string `yaml:"imageTag,omitempty"`
}

func (m ImageMeta) yaml() *imageMeta {
	if m == (ImageMeta{}) {
		return nil
	}
	return &imageMeta{ImageRepository: m.Repository, ImageTag: m.Tag}
}

type networking struct {
	PodSubnet     string `yaml:"podSubnet"`
	ServiceSubnet string `yaml:"serviceSubnet"`
	DNSDomain     string `yaml:"dnsDomain"`
}

type apiServer struct {
	CertSANs               []string `yaml:"certSANs"`
	TimeoutForControlPlane string   `yaml:"timeoutForControlPlane,omitempty"` // v1beta3
}

type kubeletConfiguration struct {
	APIVersion   string `yaml:"apiVersion"`
	Kind         string `yaml:"kind"`
	CgroupDriver string `yaml:"cgroupDriver"`
}

type kubeProxyConfiguration struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Mode       string `yaml:"mode"`
}

type joinConfiguration struct {
	APIVersion       string            `yaml:"apiVersion"`
	Kind             string            `yaml:"kind"`
	NodeRegistration nodeRegistration  `yaml:"nodeRegistration"`
	Discovery        discovery         `yaml:"discovery"`
	ControlPlane     *joinControlPlane `yaml:"controlPlane,omitempty"`
	SkipPhases       []string          `yaml:"skipPhases,omitempty"`
	Patches          *patches          `yaml:"patches,omitempty"`
	Timeouts         map[string]string `yaml:"timeouts,omitempty"` // v1beta4
}

type discovery struct {
	BootstrapToken *bootstrapTokenDiscovery `yaml:"bootstrapToken,omitempty"`
	File           *fileDiscovery           `yaml:"file,omitempty"`
	Timeout        string                   `yaml:"timeout,omitempty"` // v1beta3
}

type fileDiscovery struct {
	KubeConfigPath string `yaml:"kubeConfigPath"`
}

type bootstrapTokenDiscovery struct {
	APIServerEndpoint string   `yaml:"apiServerEndpoint"`
	Token             string   `yaml:"token"`
	CACertHashes      []string `yaml:"caCertHashes"`
}

type joinControlPlane struct {
	LocalAPIEndpoint apiEndpoint `yaml:"localAPIEndpoint"`
	CertificateKey   string      `yaml:"certificateKey,omitempty"`
}

func (n normalized) v1beta4() bool { return n.apiVersion == APIVersionV1Beta4 }

func (n normalized) initConfiguration() initConfiguration {
	c := initConfiguration{
		APIVersion:       n.apiVersion,
		Kind:             "InitConfiguration",
		NodeRegistration: n.nodeRegistration(),
		LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: n.AdvertiseAddress, BindPort: n.BindPort},
		CertificateKey:   n.CertificateKey,
		SkipPhases:       n.SkipPhases,
	}
	if n.BootstrapToken != "" {
		c.BootstrapTokens = []bootstrapToken{{
			Token:       n.BootstrapToken,
			Description: "kiln: node bootstrap token",
			TTL:         duration(n.BootstrapTokenTTL),
		}}
	}
	if n.v1beta4() && n.ControlPlaneTimeout > 0 {
		c.Timeouts = map[string]string{"controlPlaneComponentHealthCheck": duration(n.ControlPlaneTimeout)}
	}
	if n.PatchesDir != "" {
		c.Patches = &patches{Directory: n.PatchesDir}
	}
	return c
}

func (n normalized) clusterConfiguration() clusterConfiguration {
	c := clusterConfiguration{
		APIVersion:           n.apiVersion,
		Kind:                 "ClusterConfiguration",
		ClusterName:          n.ClusterName,
		KubernetesVersion:    n.version.String(),
		ControlPlaneEndpoint: n.ControlPlaneEndpoint,
		ImageRepository:      n.ImageRepository,
		Networking:           networking{PodSubnet: n.PodSubnet, ServiceSubnet: n.ServiceSubnet, DNSDomain: n.DNSDomain},
		APIServer:            apiServer{CertSANs: n.certSANs()},
	}
	if m := n.EtcdImage.yaml(); m != nil {
		c.Etcd = &etcd{Local: *m}
	}
	c.DNS = n.DNSImage.yaml()
	if !n.v1beta4() {
		c.APIServer.TimeoutForControlPlane = duration(n.ControlPlaneTimeout)
	}
	if l := n.LeaderElection; !l.IsZero() {
		args := map[string]string{
			"leader-elect-lease-duration": l.LeaseDuration.String(),
			"leader-elect-renew-deadline": l.RenewDeadline.String(),
			"leader-elect-retry-period":   l.RetryPeriod.String(),
		}
		c.ControllerManager = &component{ExtraArgs: n.extraArgs(args)}
		c.Scheduler = &component{ExtraArgs: n.extraArgs(args)}
	}
	return c
}

// extraArgs is args as this API version writes extra arguments: a map
// (v1beta3) or a list sorted by name (v1beta4).
func (n normalized) extraArgs(args map[string]string) any {
	if !n.v1beta4() {
		return args
	}
	list := make([]arg, 0, len(args))
	for k, v := range args {
		list = append(list, arg{Name: k, Value: v})
	}
	slices.SortFunc(list, func(a, b arg) int { return strings.Compare(a.Name, b.Name) })
	return list
}

func (n normalized) joinConfiguration() joinConfiguration {
	c := joinConfiguration{
		APIVersion:       n.apiVersion,
		Kind:             "JoinConfiguration",
		NodeRegistration: n.nodeRegistration(),
		SkipPhases:       n.SkipPhases,
	}
	if n.DiscoveryFile != "" {
		c.Discovery.File = &fileDiscovery{KubeConfigPath: n.DiscoveryFile}
	} else {
		c.Discovery.BootstrapToken = &bootstrapTokenDiscovery{
			APIServerEndpoint: n.ControlPlaneEndpoint,
			Token:             n.BootstrapToken,
			CACertHashes:      n.CACertHashes,
		}
	}
	if n.Role == RoleJoinControlPlane {
		c.ControlPlane = &joinControlPlane{
			LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: n.AdvertiseAddress, BindPort: n.BindPort},
			CertificateKey:   n.CertificateKey,
		}
		if n.PatchesDir != "" {
			c.Patches = &patches{Directory: n.PatchesDir}
		}
	}
	if !n.v1beta4() {
		c.Discovery.Timeout = duration(n.DiscoveryTimeout)
		return c
	}
	t := map[string]string{}
	if n.DiscoveryTimeout > 0 {
		t["discovery"] = duration(n.DiscoveryTimeout)
	}
	if n.ControlPlaneTimeout > 0 && n.Role == RoleJoinControlPlane {
		t["controlPlaneComponentHealthCheck"] = duration(n.ControlPlaneTimeout)
	}
	if len(t) > 0 {
		c.Timeouts = t
	}
	return c
}

func (n normalized) nodeRegistration() nodeRegistration {
	r := nodeRegistration{
		Name:                  n.NodeName,
		CRISocket:             n.CRISocket,
		IgnorePreflightErrors: n.IgnorePreflightErrors,
	}
	if n.Taints != nil {
		r.Taints = taints{}
		for _, t := range n.Taints {
			r.Taints = append(r.Taints, taint(t))
		}
	}
	args := map[string]string{}
	for k, v := range n.KubeletExtraArgs {
		args[k] = v
	}
	if len(n.NodeLabels) > 0 {
		labels := make([]string, 0, len(n.NodeLabels))
		for k, v := range n.NodeLabels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		args["node-labels"] = strings.Join(labels, ",")
	}
	if len(args) == 0 {
		return r
	}
	r.KubeletExtraArgs = n.extraArgs(args)
	return r
}

// certSANs puts the endpoint host first, then the given names, without duplicates.
func (n normalized) certSANs() []string {
	host, _, _ := net.SplitHostPort(n.ControlPlaneEndpoint) // validated by normalize
	sans := []string{host}
	for _, s := range n.CertSANs {
		if !slices.Contains(sans, s) {
			sans = append(sans, s)
		}
	}
	return sans
}

// duration writes d as metav1.Duration does (time.Duration.String); zero is omitted.
func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
