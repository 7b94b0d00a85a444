package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/imageset"
)

// An image built with its own image set (an internal haproxy, flannel and etcd, a pause
// image under another name) runs exactly those: the static pods, the CNI manifest and
// kubeadm's configuration name them, and the pause image is tagged as kubeadm names it.
func TestTheImageSetDecidesTheImagesFirstBootRuns(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	m1 := single(t, c, b, "m1", "10.31.100.61")
	set := &imageset.Set{APIVersion: imageset.APIVersion, Kind: imageset.Kind, KubernetesVersion: "v1.34.2",
		Images: map[string]string{
			imageset.HAProxy: "kiln.test/haproxy:2.6.12", imageset.Flannel: "kiln.test/flannel:v0.28.9",
			imageset.Pause: "kiln.test/pause:3.10.1", imageset.Etcd: "kiln.test/k8s/etcd:3.6.5-0",
		},
		Kubeadm: imageset.KubeadmImages{ImageRepository: "registry.k8s.io", Etcd: &imageset.ImageOverride{ImageRepository: "kiln.test/k8s", ImageTag: "3.6.5-0"}},
		Aliases: map[string]string{"registry.k8s.io/pause:3.10.1": "kiln.test/pause:3.10.1"},
	}
	data, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m1.node.write(strings.TrimPrefix(imageset.Path, "/"), string(data))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var reboot context.CancelFunc
	m1.run(ctx, t, c, &reboot)
	if m1.err != nil {
		t.Fatal(m1.err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(m1.node.root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct{ file, want, absent string }{
		{"etc/kubernetes/manifests/haproxy.yaml", "image: kiln.test/haproxy:2.6.12", ""},
		{"etc/kubernetes/manifests/keepalived.yaml", "image: docker.io/osixia/keepalived:2.0.20", ""},
		{"etc/kiln/cni.yaml", "image: kiln.test/flannel:v0.28.9", "image: ghcr.io/flannel-io/flannel:"},
		{"etc/kubernetes/kubeadm-config.yaml", "etcd:\n  local:\n    imageRepository: kiln.test/k8s\n    imageTag: 3.6.5-0\n", "imageRepository: registry.k8s.io"},
	} {
		got := read(tc.file)
		if !strings.Contains(got, tc.want) || tc.absent != "" && strings.Contains(got, tc.absent) {
			t.Errorf("%s: want %q (and no %q):\n%s", tc.file, tc.want, tc.absent, got)
		}
	}
	cmds := m1.node.commands()
	tag := "ctr -n k8s.io images tag --force kiln.test/pause:3.10.1 registry.k8s.io/pause:3.10.1"
	i, j := slices.IndexFunc(cmds, func(s string) bool { return strings.HasPrefix(s, "ctr -n k8s.io images import") }), slices.Index(cmds, tag)
	k := slices.IndexFunc(cmds, func(s string) bool { return strings.HasPrefix(s, "kubeadm init") })
	if j < 0 || j < i || j > k {
		t.Errorf("want %q after the imports and before kubeadm init:\n%s", tag, strings.Join(cmds, "\n"))
	}
}

// A corrupt image set stops the agent at planning, naming the file.
func TestABrokenImageSetFailsThePlan(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	m1 := single(t, c, b, "m1", "10.31.100.61")
	m1.node.write(strings.TrimPrefix(imageset.Path, "/"), `{"apiVersion":"kiln/v1","kind":"ImageSet","imagez":{}}`)
	err := m1.agent(t, c).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), imageset.Path) {
		t.Fatalf("Run() = %v, want a failure naming %s", err, imageset.Path)
	}
}
