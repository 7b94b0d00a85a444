// Package cni holds the pod network add-ons kiln installs after kubeadm init, as embedded
// manifest templates rendered with the cluster's pod subnet:
//
//   - flannel: a VXLAN overlay; each node gets a /24 of the pod subnet.
//   - calico: a VXLAN overlay with Calico IPAM and network policy (iptables dataplane,
//     Kubernetes API datastore, no BGP, no Typha, no operator).
//
// The container images are pinned; Images lists them so the image build can preload them
// and first boot needs no registry. Output is deterministic. The pod subnet is IPv4.
//
// Example:
//
//	manifest, err := cni.Manifest(cni.Flannel, "10.244.0.0/16")
//	if err != nil {
//		return fmt.Errorf("rendering the pod network: %w", err)
//	}
//	// kubectl apply -f - < manifest, once the API server answers
package cni

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"text/template"
)

// ErrInvalidParams is wrapped by every error for a bad plugin name or pod subnet.
var ErrInvalidParams = errors.New("invalid pod network parameters")

// Plugin names a pod network add-on.
type Plugin string

// The plugins.
const (
	Flannel Plugin = "flannel"
	Calico  Plugin = "calico"
)

// Plugins lists the plugins kiln ships, in a stable order.
func Plugins() []Plugin { return []Plugin{Calico, Flannel} }

// The pinned releases. Changing one means changing the images below and the golden files.
const (
	FlannelVersion = "v0.28.9"
	CalicoVersion  = "v3.31.7"
)

// ImageRefs are the container images the manifests run. The image build may give others
// (it writes them into /usr/lib/kiln/images.json); an empty field means the pinned default.
type ImageRefs struct {
	Flannel, FlannelCNIPlugin                    string
	CalicoCNI, CalicoNode, CalicoKubeControllers string
}

// DefaultImageRefs returns the images kiln pins for each plugin's release.
func DefaultImageRefs() ImageRefs {
	return ImageRefs{
		Flannel:               "ghcr.io/flannel-io/flannel:" + FlannelVersion,
		FlannelCNIPlugin:      "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
		CalicoCNI:             "quay.io/calico/cni:" + CalicoVersion,
		CalicoNode:            "quay.io/calico/node:" + CalicoVersion,
		CalicoKubeControllers: "quay.io/calico/kube-controllers:" + CalicoVersion,
	}
}

// withDefaults fills the empty fields from DefaultImageRefs.
func (r ImageRefs) withDefaults() ImageRefs {
	d := DefaultImageRefs()
	for _, f := range []struct {
		dst *string
		def string
	}{
		{&r.Flannel, d.Flannel}, {&r.FlannelCNIPlugin, d.FlannelCNIPlugin},
		{&r.CalicoCNI, d.CalicoCNI}, {&r.CalicoNode, d.CalicoNode}, {&r.CalicoKubeControllers, d.CalicoKubeControllers},
	} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	return r
}

type flannelImages struct{ Flannel, CNIPlugin string }

type calicoImages struct{ CNI, Node, KubeControllers string }

// Images returns the container images plugin runs by default, sorted, for preloading.
func Images(plugin Plugin) ([]string, error) {
	d := DefaultImageRefs()
	var images []string
	switch plugin {
	case Flannel:
		images = []string{d.Flannel, d.FlannelCNIPlugin}
	case Calico:
		images = []string{d.CalicoCNI, d.CalicoNode, d.CalicoKubeControllers}
	default:
		return nil, unknown(plugin)
	}
	slices.Sort(images)
	return images, nil
}

func unknown(plugin Plugin) error {
	return fmt.Errorf("%w: cni %q is not a plugin (want %s or %s)", ErrInvalidParams, plugin, Calico, Flannel)
}

// Manifest returns the multi-document YAML that installs plugin with the pod network
// podSubnet, which must equal kubeadm's networking.podSubnet, running the default images.
func Manifest(plugin Plugin, podSubnet string) ([]byte, error) {
	return ManifestWith(plugin, podSubnet, ImageRefs{})
}

// ManifestWith is Manifest running the images refs names (empty fields: the defaults).
func ManifestWith(plugin Plugin, podSubnet string, refs ImageRefs) ([]byte, error) {
	refs = refs.withDefaults()
	pfx, err := netip.ParsePrefix(podSubnet)
	if err != nil || !pfx.Addr().Is4() || pfx.Masked() != pfx {
		return nil, fmt.Errorf("%w: podSubnet %q is not an IPv4 CIDR such as 10.244.0.0/16", ErrInvalidParams, podSubnet)
	}
	var name string
	var data any
	switch plugin {
	case Flannel:
		// flannel gives every node a /24 of the network.
		if pfx.Bits() > 23 {
			return nil, fmt.Errorf("%w: podSubnet %s is too small for flannel, which gives each node a /24", ErrInvalidParams, podSubnet)
		}
		name = "flannel.yaml.tmpl"
		data = struct {
			Version, PodSubnet string
			Images             flannelImages
		}{FlannelVersion, pfx.String(), flannelImages{refs.Flannel, refs.FlannelCNIPlugin}}
	case Calico:
		// Calico allocates addresses in /26 blocks.
		if pfx.Bits() > 26 {
			return nil, fmt.Errorf("%w: podSubnet %s is smaller than one Calico address block (/26)", ErrInvalidParams, podSubnet)
		}
		name = "calico.yaml.tmpl"
		data = struct {
			Version, PodSubnet string
			Images             calicoImages
			CRDs               []crd
			Bindings           []string
		}{CalicoVersion, pfx.String(), calicoImages{refs.CalicoCNI, refs.CalicoNode, refs.CalicoKubeControllers}, calicoCRDs, []string{"calico-node", "calico-cni-plugin", "calico-kube-controllers"}}
	default:
		return nil, unknown(plugin)
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("rendering the %s manifest: %w", plugin, err)
	}
	return buf.Bytes(), nil
}

//go:embed manifests/*.tmpl
var manifestFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(manifestFS, "manifests/*.tmpl"))

// crd is one custom resource definition Calico needs.
type crd struct {
	Group, Version, Kind, Plural, Singular, Scope string
	Approval                                      string // api-approved.kubernetes.io, for *.k8s.io groups
	Status                                        bool   // has a status subresource
}

const (
	calicoGroup = "crd.projectcalico.org"
	anpGroup    = "policy.networking.k8s.io"
	anpApproval = "https://github.com/kubernetes-sigs/network-policy-api/pull/30"
)

func calicoCRD(kind, plural, scope string) crd {
	return crd{Group: calicoGroup, Version: "v1", Kind: kind, Plural: plural, Singular: lower(kind), Scope: scope}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// calicoCRDs are the resources calico-node and calico-kube-controllers read and write
// (Calico's libcalico-go/config/crd at the pinned release), plus the Kubernetes admin
// network policy resources calico-node watches.
var calicoCRDs = []crd{
	calicoCRD("BGPConfiguration", "bgpconfigurations", "Cluster"),
	calicoCRD("BGPFilter", "bgpfilters", "Cluster"),
	calicoCRD("BGPPeer", "bgppeers", "Cluster"),
	calicoCRD("BlockAffinity", "blockaffinities", "Cluster"),
	calicoCRD("CalicoNodeStatus", "caliconodestatuses", "Cluster"),
	calicoCRD("ClusterInformation", "clusterinformations", "Cluster"),
	calicoCRD("FelixConfiguration", "felixconfigurations", "Cluster"),
	calicoCRD("GlobalNetworkPolicy", "globalnetworkpolicies", "Cluster"),
	calicoCRD("GlobalNetworkSet", "globalnetworksets", "Cluster"),
	calicoCRD("HostEndpoint", "hostendpoints", "Cluster"),
	calicoCRD("IPAMBlock", "ipamblocks", "Cluster"),
	calicoCRD("IPAMConfig", "ipamconfigs", "Cluster"),
	calicoCRD("IPAMHandle", "ipamhandles", "Cluster"),
	calicoCRD("IPPool", "ippools", "Cluster"),
	calicoCRD("IPReservation", "ipreservations", "Cluster"),
	calicoCRD("KubeControllersConfiguration", "kubecontrollersconfigurations", "Cluster"),
	calicoCRD("NetworkPolicy", "networkpolicies", "Namespaced"),
	calicoCRD("NetworkSet", "networksets", "Namespaced"),
	calicoCRD("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", "Cluster"),
	calicoCRD("StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", "Namespaced"),
	calicoCRD("StagedNetworkPolicy", "stagednetworkpolicies", "Namespaced"),
	calicoCRD("Tier", "tiers", "Cluster"),
	{Group: anpGroup, Version: "v1alpha1", Kind: "AdminNetworkPolicy", Plural: "adminnetworkpolicies",
		Singular: "adminnetworkpolicy", Scope: "Cluster", Approval: anpApproval, Status: true},
	{Group: anpGroup, Version: "v1alpha1", Kind: "BaselineAdminNetworkPolicy", Plural: "baselineadminnetworkpolicies",
		Singular: "baselineadminnetworkpolicy", Scope: "Cluster", Approval: anpApproval, Status: true},
}
