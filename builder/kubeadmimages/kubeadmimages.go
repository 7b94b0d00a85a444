package kubeadmimages

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/firstboot/kubeadm"
)

// DefaultRepository is the registry path kubeadm pulls from when ClusterConfiguration
// names no imageRepository.
const DefaultRepository = "registry.k8s.io"

// ErrUnknownVersion is wrapped when the table has no row for a Kubernetes version.
var ErrUnknownVersion = errors.New("not in kiln's table of kubeadm's images")

// Versions are the image tags one kubeadm release names besides the Kubernetes version.
type Versions struct {
	Etcd    string // e.g. 3.6.5-0
	CoreDNS string // e.g. v1.12.1
	Pause   string // e.g. 3.10.1
}

type row struct {
	minor, firstPatch, lastPatch int
	Versions
}

// table: one row per range of patch releases of Kubernetes 1.MINOR (see the package doc
// for where each row comes from). Sorted by minor, then patch.
var table = []row{
	{30, 4, 4, Versions{"3.5.12-0", "v1.11.1", "3.9"}},
	{30, 14, 14, Versions{"3.5.15-0", "v1.11.3", "3.9"}},
	{31, 0, 0, Versions{"3.5.15-0", "v1.11.1", "3.10"}},
	{31, 14, 14, Versions{"3.5.24-0", "v1.11.3", "3.10"}},
	{32, 2, 2, Versions{"3.5.16-0", "v1.11.3", "3.10"}},
	{32, 13, 13, Versions{"3.5.24-0", "v1.11.3", "3.10"}},
	{33, 6, 13, Versions{"3.5.24-0", "v1.12.0", "3.10"}},
	{34, 0, 0, Versions{"3.6.4-0", "v1.12.1", "3.10.1"}},
	{34, 2, 4, Versions{"3.6.5-0", "v1.12.1", "3.10.1"}},
}

// Lookup returns the etcd, CoreDNS and pause versions kubeadm of kubernetesVersion
// (v1.34.2 or 1.34.2) names. A version the table lacks wraps ErrUnknownVersion.
func Lookup(kubernetesVersion string) (Versions, error) {
	v, err := kubeadm.ParseVersion(kubernetesVersion)
	if err != nil {
		return Versions{}, err
	}
	if v.Major == 1 {
		for _, r := range table {
			if r.minor == v.Minor && r.firstPatch <= v.Patch && v.Patch <= r.lastPatch {
				return r.Versions, nil
			}
		}
	}
	return Versions{}, fmt.Errorf("kubeadm %s: %w, which knows %s", v, ErrUnknownVersion, Known())
}

// Known describes the versions the table covers, for messages: "v1.30.4, v1.30.14, ...,
// v1.34.2-v1.34.4".
func Known() string {
	s := ""
	for i, r := range table {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("v1.%d.%d", r.minor, r.firstPatch)
		if r.lastPatch != r.firstPatch {
			s += fmt.Sprintf("-v1.%d.%d", r.minor, r.lastPatch)
		}
	}
	return s
}

// Images are the references kubeadm uses for one Kubernetes version and image repository.
type Images struct {
	APIServer, ControllerManager, Scheduler, Proxy string
	CoreDNS, Pause, Etcd                           string
}

// List returns the references in the order `kubeadm config images list` prints them.
func (i Images) List() []string {
	return []string{i.APIServer, i.ControllerManager, i.Scheduler, i.Proxy, i.CoreDNS, i.Pause, i.Etcd}
}

// For returns the images kubeadm of kubernetesVersion runs when its ClusterConfiguration
// names repository as imageRepository ("" means DefaultRepository). As in kubeadm, CoreDNS
// lives under coredns/ in the default repository only.
func For(kubernetesVersion, repository string) (Images, error) {
	vs, err := Lookup(kubernetesVersion)
	if err != nil {
		return Images{}, err
	}
	v, _ := kubeadm.ParseVersion(kubernetesVersion) // Lookup parsed it
	return WithVersions(v.String(), repository, vs), nil
}

// WithVersions is For with the etcd, CoreDNS and pause versions given, for a Kubernetes
// version the table lacks. kubernetesVersion must be vMAJOR.MINOR.PATCH.
func WithVersions(kubernetesVersion, repository string, vs Versions) Images {
	if repository == "" {
		repository = DefaultRepository
	}
	dns := repository
	if repository == DefaultRepository {
		dns += "/coredns"
	}
	return Images{
		APIServer:         repository + "/kube-apiserver:" + kubernetesVersion,
		ControllerManager: repository + "/kube-controller-manager:" + kubernetesVersion,
		Scheduler:         repository + "/kube-scheduler:" + kubernetesVersion,
		Proxy:             repository + "/kube-proxy:" + kubernetesVersion,
		CoreDNS:           dns + "/coredns:" + vs.CoreDNS,
		Pause:             repository + "/pause:" + vs.Pause,
		Etcd:              repository + "/etcd:" + vs.Etcd,
	}
}

// IsPause reports whether ref names kubeadm's pause image (REPOSITORY/pause:TAG).
func IsPause(ref string) bool {
	i := strings.LastIndex(ref, "/pause:")
	return i > 0 && !strings.Contains(ref, "@")
}
