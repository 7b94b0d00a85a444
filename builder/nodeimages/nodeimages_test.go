package nodeimages

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/firstboot/imageset"
	"github.com/kiln-build/kiln/profiles"
)

func k8s(mut func(k *spec.Kubernetes)) *spec.Kubernetes {
	k := &spec.Kubernetes{LoadBalancers: []string{"keepalived-haproxy"}, CNI: []string{"flannel"}, ImageRepository: "registry.k8s.io"}
	if mut != nil {
		mut(k)
	}
	return k
}

func TestDeriveNamesEveryImageFirstBootRuns(t *testing.T) {
	set, err := Derive(k8s(nil), "v1.34.2")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kube-apiserver":          "registry.k8s.io/kube-apiserver:v1.34.2",
		"kube-controller-manager": "registry.k8s.io/kube-controller-manager:v1.34.2",
		"kube-scheduler":          "registry.k8s.io/kube-scheduler:v1.34.2",
		"kube-proxy":              "registry.k8s.io/kube-proxy:v1.34.2",
		"coredns":                 "registry.k8s.io/coredns/coredns:v1.12.1",
		"pause":                   "registry.k8s.io/pause:3.10.1",
		"etcd":                    "registry.k8s.io/etcd:3.6.5-0",
		"haproxy":                 "docker.io/library/haproxy:2.8.5-alpine",
		"keepalived":              "docker.io/osixia/keepalived:2.0.20",
		"flannel":                 "ghcr.io/flannel-io/flannel:v0.28.9",
		"flannel-cni-plugin":      "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
	}
	if !maps.Equal(set.Images, want) {
		t.Errorf("Derive().Images = %v\nwant %v", set.Images, want)
	}
	if set.Kubeadm.ImageRepository != "registry.k8s.io" || set.Kubeadm.Etcd != nil || set.Kubeadm.DNS != nil || set.Aliases != nil {
		t.Errorf("Derive().Kubeadm = %+v, aliases %v, want the repository only", set.Kubeadm, set.Aliases)
	}
	if got := SandboxImage(set); got != "registry.k8s.io/pause:3.10.1" {
		t.Errorf("SandboxImage = %q", got)
	}
}

func TestDeriveOverrides(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mut   func(k *spec.Kubernetes)
		check func(t *testing.T, s *imageset.Set)
	}{
		{"load balancer image", func(k *spec.Kubernetes) { k.Images = map[string]string{"haproxy": "kiln.test/haproxy:2.6.12"} },
			func(t *testing.T, s *imageset.Set) {
				if s.Images["haproxy"] != "kiln.test/haproxy:2.6.12" {
					t.Errorf("haproxy = %q", s.Images["haproxy"])
				}
			}},
		{"etcd and coredns tell kubeadm", func(k *spec.Kubernetes) {
			k.Images = map[string]string{"etcd": "kiln.test/k8s/etcd:3.6.6-0", "coredns": "registry.k8s.io/coredns/coredns:v1.12.4"}
		}, func(t *testing.T, s *imageset.Set) {
			if e := s.Kubeadm.Etcd; e == nil || *e != (imageset.ImageOverride{ImageRepository: "kiln.test/k8s", ImageTag: "3.6.6-0"}) {
				t.Errorf("Kubeadm.Etcd = %+v", e)
			}
			if d := s.Kubeadm.DNS; d == nil || *d != (imageset.ImageOverride{ImageRepository: "registry.k8s.io/coredns", ImageTag: "v1.12.4"}) {
				t.Errorf("Kubeadm.DNS = %+v", d)
			}
		}},
		{"pause is aliased to kubeadm's name", func(k *spec.Kubernetes) { k.Images = map[string]string{"pause": "kiln.test/pause:3.10.1"} },
			func(t *testing.T, s *imageset.Set) {
				if s.Aliases["registry.k8s.io/pause:3.10.1"] != "kiln.test/pause:3.10.1" {
					t.Errorf("Aliases = %v", s.Aliases)
				}
				if got := SandboxImage(s); got != "registry.k8s.io/pause:3.10.1" {
					t.Errorf("SandboxImage = %q, want kubeadm's name", got)
				}
			}},
		{"image repository", func(k *spec.Kubernetes) { k.ImageRepository = "kiln.test/k8s" },
			func(t *testing.T, s *imageset.Set) {
				if s.Images["coredns"] != "kiln.test/k8s/coredns:v1.12.1" || s.Images["pause"] != "kiln.test/k8s/pause:3.10.1" {
					t.Errorf("coredns, pause = %q, %q", s.Images["coredns"], s.Images["pause"])
				}
			}},
		{"both modes and both networks", func(k *spec.Kubernetes) {
			k.LoadBalancers = []string{"keepalived-haproxy", "kube-vip"}
			k.CNI = []string{"calico", "flannel"}
		}, func(t *testing.T, s *imageset.Set) {
			if len(s.Images) != 7+3+5 {
				t.Errorf("%d images, want 15: %v", len(s.Images), s.Images)
			}
		}},
		{"no pod network", func(k *spec.Kubernetes) { k.CNI = []string{} },
			func(t *testing.T, s *imageset.Set) {
				if _, ok := s.Images["flannel"]; ok || s.CNI == nil {
					t.Errorf("Images = %v, CNI = %v", s.Images, s.CNI)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Derive(k8s(tc.mut), "v1.34.2")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, set)
		})
	}
}

func TestDeriveErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		mut           func(k *spec.Kubernetes)
		want          string
	}{
		{"version outside the table", "v1.35.0", nil,
			"kubernetes.images: kubeadm v1.35.0: not in kiln's table of kubeadm's images"},
		{"override of an image not derived", "v1.34.2", func(k *spec.Kubernetes) { k.Images = map[string]string{"kube-vip": "kiln.test/kube-vip:v1.2.3"} },
			"kubernetes.images.kube-vip: overrides an image the profile does not derive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Derive(k8s(tc.mut), tc.version)
			var se *spec.Error
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &se) {
				t.Fatalf("Derive() error = %v, want a *spec.Error containing %q", err, tc.want)
			}
		})
	}
	// With etcd, coredns and pause named, an unknown kubeadm is fine.
	set, err := Derive(k8s(func(k *spec.Kubernetes) {
		k.Images = map[string]string{"etcd": "registry.k8s.io/etcd:3.6.6-0", "coredns": "registry.k8s.io/coredns/coredns:v1.13.1", "pause": "registry.k8s.io/pause:3.10.1"}
	}), "v1.35.0")
	if err != nil || set.Images["etcd"] != "registry.k8s.io/etcd:3.6.6-0" || set.Images["kube-proxy"] != "registry.k8s.io/kube-proxy:v1.35.0" || set.Kubeadm.Etcd != nil {
		t.Errorf("Derive(v1.35.0 with overrides) = %+v, %v", set, err)
	}
}

func TestSourcesAndCheck(t *testing.T) {
	p := &spec.Profile{
		Images: []spec.Image{{Ref: "kiln.test/haproxy:2.6.12", Archive: "/srv/haproxy.tar"}, {Ref: "kiln.test/extra:1"}},
		Kubernetes: k8s(func(k *spec.Kubernetes) {
			k.Images = map[string]string{"haproxy": "kiln.test/haproxy:2.6.12"}
			k.PullAllowed = []string{"ghcr.io/flannel-io/"}
		}),
	}
	set, err := Derive(p.Kubernetes, "v1.34.2")
	if err != nil {
		t.Fatal(err)
	}
	preload, pull := Sources(p, set)
	if want := []string{"ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3", "ghcr.io/flannel-io/flannel:v0.28.9"}; !slices.Equal(pull, want) {
		t.Errorf("pull = %q, want %q", pull, want)
	}
	var fields []string
	for _, s := range preload {
		fields = append(fields, s.Field)
	}
	want := []string{"images[0]", "images[1]", "kubernetes.images.coredns", "kubernetes.images.etcd", "kubernetes.images.keepalived",
		"kubernetes.images.kube-apiserver", "kubernetes.images.kube-controller-manager", "kubernetes.images.kube-proxy",
		"kubernetes.images.kube-scheduler", "kubernetes.images.pause"}
	if !slices.Equal(fields, want) {
		t.Errorf("preload fields = %q\nwant %q", fields, want)
	}

	all := func(string) string { return "sha256:" + strings.Repeat("a", 64) }
	if err := Check(preload, all); err != nil {
		t.Errorf("Check(all pinned) = %v", err)
	}
	none := func(string) string { return "" }
	err = Check(preload, none)
	var np *NotPreloadedError
	if !errors.As(err, &np) || np.Field != "images[1]" || np.More != len(preload)-2 {
		t.Fatalf("Check(nothing pinned) = %v, want images[1] first (images[0] has an archive)", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "images[1]: kiln.test/extra:1 is not preloaded") {
		t.Errorf("error %q: want one line naming the field and the image", msg)
	}
}

func TestKubeadmVersion(t *testing.T) {
	v, err := KubeadmVersion([]lock.Package{{Name: "kubelet", Version: "1.34.2"}, {Name: "kubeadm", Version: "1.34.2", Release: "150500.1.1", Arch: "x86_64"}})
	if err != nil || v != "v1.34.2" {
		t.Errorf("KubeadmVersion = %q, %v, want v1.34.2", v, err)
	}
	_, err = KubeadmVersion([]lock.Package{{Name: "kubelet", Version: "1.34.2"}})
	var se *spec.Error
	if !errors.As(err, &se) || se.Field != "kubernetes" {
		t.Errorf("KubeadmVersion(no kubeadm) error = %v, want a *spec.Error on kubernetes", err)
	}
}

// The built-in Kubernetes profiles list no image by hand: kiln derives kubeadm's images
// for their kubeadm pin, both load-balancer modes and both pod networks.
func TestBuiltinKubernetesProfilesDeriveTheirImages(t *testing.T) {
	var k8s []string
	for _, n := range profiles.Names() {
		if strings.HasSuffix(n, "-k8s") {
			k8s = append(k8s, n)
		}
	}
	if len(k8s) < 3 {
		t.Fatalf("only %v are Kubernetes profiles", k8s)
	}
	for _, name := range k8s {
		t.Run(name, func(t *testing.T) {
			p, err := spec.Load(name, spec.LoadOptions{Builtin: profiles.FS()})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Images) != 0 || p.Kubernetes == nil {
				t.Fatalf("images = %v, kubernetes = %v: want no hand-copied images and a kubernetes section", p.Images, p.Kubernetes)
			}
			var version string
			for _, s := range p.Packages {
				if v, ok := strings.CutPrefix(s, "kubeadm-"); ok {
					version = "v" + v
				}
			}
			set, err := Derive(p.Kubernetes, version)
			if err != nil {
				t.Fatalf("Derive(%s): %v", version, err)
			}
			if len(set.Images) != len(imageset.Names()) {
				t.Errorf("%d images derived, want all %d: %v", len(set.Images), len(imageset.Names()), set.Images)
			}
			preload, pull := Sources(p, set)
			if len(pull) != 0 || len(preload) != len(set.Images) {
				t.Errorf("preload %d, pull %q: want every image preloaded", len(preload), pull)
			}
		})
	}
}
