package imageset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Path is where an image carries its Set (under /usr: read-only, verified with the OS).
const Path = "/usr/lib/kiln/images.json"

// APIVersion and Kind identify the document.
const (
	APIVersion = "kiln/v1"
	Kind       = "ImageSet"
)

// Names of the images first boot runs: the keys of Set.Images and of a profile's
// kubernetes.images.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	KubeProxy             = "kube-proxy"
	CoreDNS               = "coredns"
	Pause                 = "pause"
	Etcd                  = "etcd"
	HAProxy               = "haproxy"
	Keepalived            = "keepalived"
	KubeVIP               = "kube-vip"
	Flannel               = "flannel"
	FlannelCNIPlugin      = "flannel-cni-plugin"
	CalicoCNI             = "calico-cni"
	CalicoNode            = "calico-node"
	CalicoKubeControllers = "calico-kube-controllers"
)

// Load-balancer modes and pod networks an image can be built for (the values of the
// node metadata's cluster.loadBalancer.mode and cluster.cni that need images).
const (
	LBKeepalivedHAProxy = "keepalived-haproxy"
	LBKubeVIP           = "kube-vip"
	CNIFlannel          = "flannel"
	CNICalico           = "calico"
)

// Kubeadm lists kubeadm's images, in the order `kubeadm config images list` prints them.
var Kubeadm = []string{KubeAPIServer, KubeControllerManager, KubeScheduler, KubeProxy, CoreDNS, Pause, Etcd}

// LoadBalancerImages returns the images a load-balancer mode runs; ok is false for an
// unknown mode.
func LoadBalancerImages(mode string) (names []string, ok bool) {
	switch mode {
	case LBKeepalivedHAProxy:
		return []string{HAProxy, Keepalived}, true
	case LBKubeVIP:
		return []string{KubeVIP}, true
	}
	return nil, false
}

// CNIImages returns the images a pod network runs; ok is false for an unknown one.
func CNIImages(cni string) (names []string, ok bool) {
	switch cni {
	case CNIFlannel:
		return []string{Flannel, FlannelCNIPlugin}, true
	case CNICalico:
		return []string{CalicoCNI, CalicoKubeControllers, CalicoNode}, true
	}
	return nil, false
}

// LoadBalancers and CNIs are the values LoadBalancerImages and CNIImages know, sorted.
var (
	LoadBalancers = []string{LBKeepalivedHAProxy, LBKubeVIP}
	CNIs          = []string{CNICalico, CNIFlannel}
)

// Names returns every image name, sorted.
func Names() []string {
	names := slices.Clone(Kubeadm)
	for _, m := range LoadBalancers {
		n, _ := LoadBalancerImages(m)
		names = append(names, n...)
	}
	for _, c := range CNIs {
		n, _ := CNIImages(c)
		names = append(names, n...)
	}
	sort.Strings(names)
	return names
}

// Set is the document at Path.
type Set struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// KubernetesVersion is the version of the image's kubeadm, e.g. v1.34.2.
	KubernetesVersion string `json:"kubernetesVersion"`
	// LoadBalancers and CNI are the modes and pod networks whose images are in Images.
	LoadBalancers []string `json:"loadBalancers"`
	CNI           []string `json:"cni"`
	// Images maps an image name (see the constants) to the reference first boot uses.
	Images map[string]string `json:"images"`
	// Kubeadm is what kubeadm's ClusterConfiguration must say for kubeadm to ask for
	// Images' kubeadm references.
	Kubeadm KubeadmImages `json:"kubeadm"`
	// Aliases maps a reference kubeadm or containerd asks for to the preloaded reference
	// that stands for it; the agent tags the image under that name after importing it
	// (kubeadm names its pause image itself).
	Aliases map[string]string `json:"aliases,omitempty"`
	// Preloaded lists the images under /var/lib/kiln/images, sorted by reference.
	Preloaded []Preloaded `json:"preloaded"`
	// Pull lists the references first boot may pull from a registry (the profile's
	// kubernetes.pullAllowed): not preloaded.
	Pull []string `json:"pull,omitempty"`
}

// KubeadmImages are the image settings of kubeadm's ClusterConfiguration.
type KubeadmImages struct {
	// ImageRepository is the registry path of the control-plane images and pause.
	ImageRepository string `json:"imageRepository"`
	// Etcd and DNS are set when the profile overrides etcd's or CoreDNS's image.
	Etcd *ImageOverride `json:"etcd,omitempty"`
	DNS  *ImageOverride `json:"dns,omitempty"`
}

// ImageOverride is kubeadm's ImageMeta: the repository the image's fixed name is appended
// to, and the tag.
type ImageOverride struct {
	ImageRepository string `json:"imageRepository"`
	ImageTag        string `json:"imageTag"`
}

// Preloaded is one image archive in the image.
type Preloaded struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"` // sha256:HEX of the image manifest, as the lock pins it
	File   string `json:"file"`   // its name under /var/lib/kiln/images
}

// Ref returns the reference for an image name, or "".
func (s *Set) Ref(name string) string {
	if s == nil {
		return ""
	}
	return s.Images[name]
}

// Marshal returns the file's bytes: indented JSON, keys sorted, stable.
func (s *Set) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Parse reads the file's bytes strictly: an unknown field, another kind or an image
// with an empty reference is an error.
func Parse(data []byte) (*Set, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	s := &Set{}
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%s: not an image set: %w", Path, err)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind {
		return nil, fmt.Errorf("%s: apiVersion %q kind %q is not supported (want %s %s)", Path, s.APIVersion, s.Kind, APIVersion, Kind)
	}
	for _, n := range sortedKeys(s.Images) {
		if s.Images[n] == "" {
			return nil, fmt.Errorf("%s: images.%s: empty reference", Path, n)
		}
	}
	return s, nil
}

// Read reads root/Path. An image without the file gives nil, nil: the agent then uses
// its defaults.
func Read(root string) (*Set, error) {
	data, err := os.ReadFile(filepath.Join(root, Path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
