package nodeimages

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/kiln-build/kiln/builder/kubeadmimages"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/firstboot/cni"
	"github.com/kiln-build/kiln/firstboot/imageset"
	"github.com/kiln-build/kiln/firstboot/kubeadm"
	"github.com/kiln-build/kiln/firstboot/lb"
)

// KubeadmVersion returns the version of the locked kubeadm package, as vX.Y.Z.
func KubeadmVersion(pkgs []lock.Package) (string, error) {
	for _, p := range pkgs {
		if p.Name == "kubeadm" {
			v, err := kubeadm.ParseVersion(p.Version)
			if err != nil {
				return "", fmt.Errorf("the locked kubeadm %s: %w", p.NEVRA(), err)
			}
			return v.String(), nil
		}
	}
	return "", &spec.Error{Field: "kubernetes", Msg: "kiln derives the images from the locked kubeadm's version, but the package set has no kubeadm (add it to packages)"}
}

// ForLock derives the set for a profile and its lock (the locked kubeadm's version); nil,
// nil for a profile without a kubernetes section.
func ForLock(p *spec.Profile, l *lock.Lock) (*imageset.Set, error) {
	if p.Kubernetes == nil {
		return nil, nil
	}
	v, err := KubeadmVersion(l.Packages)
	if err != nil {
		return nil, err
	}
	return Derive(p.Kubernetes, v)
}

// Defaults returns the references kiln-firstboot runs for the load balancers and pod
// networks when the image says nothing else.
func Defaults() map[string]string {
	l, c := lb.DefaultImages(), cni.DefaultImageRefs()
	return map[string]string{
		imageset.HAProxy: l.HAProxy, imageset.Keepalived: l.Keepalived, imageset.KubeVIP: l.KubeVIP,
		imageset.Flannel: c.Flannel, imageset.FlannelCNIPlugin: c.FlannelCNIPlugin,
		imageset.CalicoCNI: c.CalicoCNI, imageset.CalicoNode: c.CalicoNode, imageset.CalicoKubeControllers: c.CalicoKubeControllers,
	}
}

// Derive returns the image set first boot runs for k (defaults applied, validated) and
// kubeadm of kubeadmVersion. Preloaded and Pull are left for the build to fill.
func Derive(k *spec.Kubernetes, kubeadmVersion string) (*imageset.Set, error) {
	if k == nil {
		return nil, errors.New("the profile has no kubernetes section")
	}
	set := &imageset.Set{APIVersion: imageset.APIVersion, Kind: imageset.Kind, KubernetesVersion: kubeadmVersion,
		LoadBalancers: slices.Clone(k.LoadBalancers), CNI: slices.Clone(k.CNI), Images: map[string]string{},
		Kubeadm: imageset.KubeadmImages{ImageRepository: k.ImageRepository}}
	if set.LoadBalancers == nil {
		set.LoadBalancers = []string{}
	}
	if set.CNI == nil {
		set.CNI = []string{}
	}
	kubeadmNames, err := kubeadmDefaults(k, kubeadmVersion)
	if err != nil {
		return nil, err
	}
	for _, n := range imageset.Kubeadm {
		def, ref := kubeadmNames[n], k.Images[n]
		if ref == "" || ref == def {
			set.Images[n] = def
			continue
		}
		set.Images[n] = ref
		switch n {
		case imageset.Etcd, imageset.CoreDNS:
			repo, tag, _ := spec.SplitKubeadmImage(ref, n) // Validate checked the form
			o := &imageset.ImageOverride{ImageRepository: repo, ImageTag: tag}
			if n == imageset.Etcd {
				set.Kubeadm.Etcd = o
			} else {
				set.Kubeadm.DNS = o
			}
		default:
			// kubeadm names these itself: the agent tags the preloaded image under
			// kubeadm's name.
			if set.Aliases == nil {
				set.Aliases = map[string]string{}
			}
			set.Aliases[def] = ref
		}
	}
	defaults := Defaults()
	wanted := map[string]bool{}
	for _, m := range set.LoadBalancers {
		names, _ := imageset.LoadBalancerImages(m)
		for _, n := range names {
			wanted[n] = true
		}
	}
	for _, c := range set.CNI {
		names, _ := imageset.CNIImages(c)
		for _, n := range names {
			wanted[n] = true
		}
	}
	for n := range wanted {
		set.Images[n] = defaults[n]
		if ref := k.Images[n]; ref != "" {
			set.Images[n] = ref
		}
	}
	for _, n := range sortedKeys(k.Images) {
		if _, ok := set.Images[n]; !ok {
			return nil, &spec.Error{Field: "kubernetes.images." + n, Msg: fmt.Sprintf("overrides an image the profile does not derive: add its load balancer or pod network to kubernetes.loadBalancers or kubernetes.cni, or list %s under images", k.Images[n])}
		}
	}
	return set, nil
}

// kubeadmDefaults names kubeadm's images as kubeadm of version does for the profile's
// imageRepository. A version outside kubeadmimages' table is fine when the profile names
// etcd, coredns and pause itself.
func kubeadmDefaults(k *spec.Kubernetes, version string) (map[string]string, error) {
	im, err := kubeadmimages.For(version, k.ImageRepository)
	if errors.Is(err, kubeadmimages.ErrUnknownVersion) {
		etcd, coredns, pause := k.Images[imageset.Etcd], k.Images[imageset.CoreDNS], k.Images[imageset.Pause]
		if etcd == "" || coredns == "" || pause == "" {
			return nil, &spec.Error{Field: "kubernetes.images", Msg: fmt.Sprintf("%v: set etcd, coredns and pause to the images that kubeadm runs (`kubeadm config images list`)", err)}
		}
		_, etcdTag, _ := spec.SplitKubeadmImage(etcd, imageset.Etcd)
		_, dnsTag, _ := spec.SplitKubeadmImage(coredns, imageset.CoreDNS)
		im = kubeadmimages.WithVersions(version, k.ImageRepository, kubeadmimages.Versions{Etcd: etcdTag, CoreDNS: dnsTag})
		im.Pause = pause // kubeadm's own pause name is unknown: trust the profile's
	} else if err != nil {
		return nil, err
	}
	return map[string]string{
		imageset.KubeAPIServer: im.APIServer, imageset.KubeControllerManager: im.ControllerManager,
		imageset.KubeScheduler: im.Scheduler, imageset.KubeProxy: im.Proxy,
		imageset.CoreDNS: im.CoreDNS, imageset.Pause: im.Pause, imageset.Etcd: im.Etcd,
	}, nil
}

// SandboxImage is the pause image containerd must run pods with: the name kubeadm gives
// it (under which the agent tags an overriding image).
func SandboxImage(set *imageset.Set) string {
	pause := set.Images[imageset.Pause]
	for kubeadmName, ref := range set.Aliases {
		if ref == pause && kubeadmimages.IsPause(kubeadmName) {
			return kubeadmName
		}
	}
	return pause
}

// Source is one image to preload and the profile field that asked for it.
type Source struct {
	spec.Image
	Field string // e.g. kubernetes.images.haproxy, images[2]
}

// Sources returns the images to preload, in a stable order: the profile's images[], then
// every derived reference they do not list and pullAllowed does not match, by name. pull
// lists the derived references first boot pulls instead, sorted.
func Sources(p *spec.Profile, set *imageset.Set) (preload []Source, pull []string) {
	listed := map[string]bool{}
	for i, im := range p.Images {
		preload = append(preload, Source{Image: im, Field: fmt.Sprintf("images[%d]", i)})
		listed[im.Ref] = true
	}
	if set == nil {
		return preload, nil
	}
	for _, n := range sortedKeys(set.Images) {
		ref := set.Images[n]
		switch {
		case listed[ref]:
		case p.Kubernetes.PullAllows(ref):
			if !slices.Contains(pull, ref) {
				pull = append(pull, ref)
			}
		default:
			preload = append(preload, Source{Image: spec.Image{Ref: ref}, Field: "kubernetes.images." + n})
			listed[ref] = true
		}
	}
	sort.Strings(pull)
	return preload, pull
}

// Images returns the spec.Image of each source.
func Images(srcs []Source) []spec.Image {
	out := make([]spec.Image, len(srcs))
	for i, s := range srcs {
		out[i] = s.Image
	}
	return out
}

// NotPreloadedError says an image first boot needs would be neither in the image nor
// allowed to be pulled.
type NotPreloadedError struct {
	Field, Ref string
	More       int // further images with the same problem
}

func (e *NotPreloadedError) Error() string {
	msg := fmt.Sprintf("%s: %s is not preloaded (the lock pins no digest for it and images[] gives no archive) and kubernetes.pullAllowed does not allow pulling it; run `kiln lock`, give images: [{ref: %s, archive: FILE}], or allow it", e.Field, e.Ref, e.Ref)
	if e.More > 0 {
		msg += fmt.Sprintf(" (and %d more images)", e.More)
	}
	return msg
}

// Check returns a *NotPreloadedError naming the first image to preload that has neither an
// archive nor a digest pinned (pinned returns "" for a reference the lock does not pin).
func Check(preload []Source, pinned func(ref string) string) error {
	var first *NotPreloadedError
	for _, s := range preload {
		if s.Archive != "" || pinned(s.Ref) != "" {
			continue
		}
		if first == nil {
			first = &NotPreloadedError{Field: s.Field, Ref: s.Ref}
		} else {
			first.More++
		}
	}
	if first == nil {
		return nil
	}
	return first
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
