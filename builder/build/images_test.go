package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/nodeimages"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
)

// A build whose lock pins no digest for an image first boot needs stops before any work
// (no root needed, nothing written) with one line naming the image; a pullAllowed prefix
// or a pin lets it through that check.
func TestBuildRefusesAnImageThatWouldNeedARegistry(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		name    string
		k       *spec.Kubernetes
		pinAll  bool
		wantErr string
	}{
		{"unpinned haproxy", &spec.Kubernetes{LoadBalancers: []string{"keepalived-haproxy"}, CNI: []string{}, ImageRepository: "registry.k8s.io",
			Images: map[string]string{"haproxy": "kiln.test/haproxy:2.6.12"}, PullAllowed: []string{"registry.k8s.io/", "docker.io/osixia/"}},
			false, "kubernetes.images.haproxy: kiln.test/haproxy:2.6.12 is not preloaded"},
		{"everything pinned", &spec.Kubernetes{LoadBalancers: []string{"kube-vip"}, CNI: []string{"flannel"}, ImageRepository: "registry.k8s.io"},
			true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &spec.Profile{Name: "node", Arch: "x86_64", Packages: []string{"kubeadm-1.34.2"}, Kubernetes: tc.k}
			l := lock.New(p, nil)
			l.Packages = []lock.Package{{Name: "kubeadm", Version: "1.34.2", Release: "150500.1.1", Arch: "x86_64"}}
			if tc.pinAll {
				set, err := nodeimages.ForLock(p, l)
				if err != nil {
					t.Fatal(err)
				}
				preload, _ := nodeimages.Sources(p, set)
				for _, s := range preload {
					l.Images = append(l.Images, lock.Image{Ref: s.Ref, Digest: digest})
				}
			}
			out := filepath.Join(t.TempDir(), "out")
			_, err := Build(context.Background(), Options{Profile: p, Lock: l, OutDir: out})
			if tc.wantErr == "" {
				var np *nodeimages.NotPreloadedError
				if errors.As(err, &np) {
					t.Fatalf("Build() = %v, want it past the image check", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Build() = %v, want one line containing %q", err, tc.wantErr)
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("the output directory exists after the check failed")
			}
		})
	}
}
