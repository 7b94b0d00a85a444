package spec_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/spec"
)

func TestKubernetesValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"unknown mode", "kubernetes: {loadBalancers: [metallb]}\n",
			`kubernetes.loadBalancers[0]: "metallb" is not a load-balancer mode with images (want keepalived-haproxy or kube-vip)`},
		{"mode twice", "kubernetes: {loadBalancers: [kube-vip, kube-vip]}\n", `kubernetes.loadBalancers[1]: "kube-vip" is listed twice`},
		{"unknown cni", "kubernetes: {cni: [weave]}\n", `kubernetes.cni[0]: "weave" is not a pod network kiln installs (want calico or flannel)`},
		{"bad repository", "kubernetes: {imageRepository: 'https://registry.k8s.io'}\n", `kubernetes.imageRepository: "https://registry.k8s.io" is not a registry path`},
		{"misspelled image", "kubernetes: {images: {hapoxy: 'kiln.test/haproxy:2.6.12'}}\n", `kubernetes.images.hapoxy: "hapoxy" is not an image kiln derives (want one of calico-cni,`},
		{"suggestion", "kubernetes: {images: {hapoxy: 'kiln.test/haproxy:2.6.12'}}\n", `did you mean "haproxy"?`},
		{"bad reference", "kubernetes: {images: {haproxy: 'Kiln/HAProxy'}}\n", `kubernetes.images.haproxy: "Kiln/HAProxy" is not an image reference`},
		{"etcd by digest", "kubernetes: {images: {etcd: 'kiln.test/etcd@sha256:" + strings.Repeat("a", 64) + "'}}\n", `kubernetes.images.etcd: "kiln.test/etcd@sha256:`},
		{"etcd under another name", "kubernetes: {images: {etcd: 'kiln.test/etcd-3:3.6.5'}}\n", `kubeadm can only be given REPOSITORY/etcd:TAG`},
		{"coredns kubeadm renames", "kubernetes: {images: {coredns: 'registry.k8s.io/coredns:v1.12.1'}}\n", `kubernetes.images.coredns: "registry.k8s.io/coredns:v1.12.1": kubeadm reads registry.k8s.io/coredns as registry.k8s.io/coredns/coredns`},
		{"bad pull entry", "kubernetes: {pullAllowed: ['https://quay.io/']}\n", `kubernetes.pullAllowed[0]: "https://quay.io/" is neither an image reference nor a registry prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Load(write(t, t.TempDir(), "p.yaml", minimal+tc.extra), spec.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load() error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestKubernetesDecodingIsStrict(t *testing.T) {
	_, err := spec.Decode("p.yaml", []byte(minimal+"kubernetes:\n  loadBalancer: [kube-vip]\n"))
	want := `p.yaml:10: kubernetes.loadBalancer: unknown field (did you mean "loadBalancers"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("Decode() error = %v, want %q", err, want)
	}
}

func TestKubernetesDefaultsAndValidOverrides(t *testing.T) {
	doc := minimal + `kubernetes:
  images:
    haproxy: kiln.test/haproxy:2.6.12
    etcd: kiln.test/k8s/etcd:3.6.5-0
    coredns: registry.k8s.io/coredns/coredns:v1.12.1
  pullAllowed: [registry.k8s.io/, kiln.test/haproxy:2.6.12]
`
	p, err := spec.Load(write(t, t.TempDir(), "p.yaml", doc), spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := p.Kubernetes
	if !slices.Equal(k.LoadBalancers, []string{"keepalived-haproxy"}) || !slices.Equal(k.CNI, []string{"flannel"}) || k.ImageRepository != "registry.k8s.io" {
		t.Errorf("defaults = %+v, want keepalived-haproxy, flannel, registry.k8s.io", k)
	}
	for ref, want := range map[string]bool{
		"registry.k8s.io/pause:3.10.1": true, "kiln.test/haproxy:2.6.12": true,
		"kiln.test/haproxy:2.8": false, "registry.k8s.io.evil/pause:3.10.1": false,
	} {
		if got := k.PullAllows(ref); got != want {
			t.Errorf("PullAllows(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestKubernetesMergesChildOverParent(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base.yaml", minimal+`kubernetes:
  loadBalancers: [keepalived-haproxy]
  cni: [flannel]
  images: {haproxy: 'kiln.test/haproxy:2.6.12', flannel: 'kiln.test/flannel:v0.28.9'}
`)
	child := write(t, dir, "child.yaml", `apiVersion: kiln/v1
kind: Profile
name: child
extends: base.yaml
kubernetes:
  cni: []
  images: {haproxy: 'kiln.test/haproxy:2.8.5'}
`)
	p, err := spec.Load(child, spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := p.Kubernetes
	if !slices.Equal(k.LoadBalancers, []string{"keepalived-haproxy"}) || len(k.CNI) != 0 {
		t.Errorf("lists = %q %q, want the parent's modes and the child's empty cni", k.LoadBalancers, k.CNI)
	}
	if k.Images["haproxy"] != "kiln.test/haproxy:2.8.5" || k.Images["flannel"] != "kiln.test/flannel:v0.28.9" {
		t.Errorf("images = %v, want the child's haproxy and the parent's flannel", k.Images)
	}
}

func TestSplitKubeadmImage(t *testing.T) {
	for _, tc := range []struct {
		ref, name, repo, tag string
		ok                   bool
	}{
		{"registry.k8s.io/etcd:3.6.5-0", "etcd", "registry.k8s.io", "3.6.5-0", true},
		{"registry.k8s.io/coredns/coredns:v1.12.1", "coredns", "registry.k8s.io/coredns", "v1.12.1", true},
		{"kiln.test:5000/k8s/etcd:3.6.5-0", "etcd", "kiln.test:5000/k8s", "3.6.5-0", true},
		{"etcd:3.6.5-0", "etcd", "", "", false},
		{"kiln.test/etcd", "etcd", "", "", false},
	} {
		repo, tag, ok := spec.SplitKubeadmImage(tc.ref, tc.name)
		if repo != tc.repo || tag != tc.tag || ok != tc.ok {
			t.Errorf("SplitKubeadmImage(%q, %q) = %q, %q, %v, want %q, %q, %v", tc.ref, tc.name, repo, tag, ok, tc.repo, tc.tag, tc.ok)
		}
	}
}

// The kubernetes example of docs/profile.md loads as it is written there.
func TestKubernetesDocExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../../docs/profile.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "## kubernetes:")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/profile.md has no yaml example under ## kubernetes:")
	}
	p, err := spec.Load(write(t, t.TempDir(), "p.yaml", minimal+example), spec.LoadOptions{})
	if err != nil {
		t.Fatalf("the docs/profile.md example: %v", err)
	}
	if p.Kubernetes.Images["haproxy"] != p.Images[0].Ref || !filepath.IsAbs(p.Images[0].Archive) {
		t.Errorf("example loaded as %+v, %+v", p.Kubernetes, p.Images)
	}
}
