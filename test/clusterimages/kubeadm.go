package clusterimages

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// knownKubeadmImages is what `kubeadm config images list
// --kubernetes-version VERSION` prints, for the versions the cluster test
// uses; TestKnownKubeadmImagesMatchKubeadm checks it against real kubeadm.
var knownKubeadmImages = map[string][]string{
	"v1.34.4": {
		"registry.k8s.io/kube-apiserver:v1.34.4",
		"registry.k8s.io/kube-controller-manager:v1.34.4",
		"registry.k8s.io/kube-scheduler:v1.34.4",
		"registry.k8s.io/kube-proxy:v1.34.4",
		"registry.k8s.io/coredns/coredns:v1.12.1",
		"registry.k8s.io/pause:3.10.1",
		"registry.k8s.io/etcd:3.6.5-0",
	},
}

// KnownKubeadmImages returns the images kubeadm VERSION lists, for the
// versions recorded here.
func KnownKubeadmImages(version string) ([]string, error) {
	refs, ok := knownKubeadmImages[version]
	if !ok {
		return nil, fmt.Errorf("kubeadm %s's image list is not recorded here; ask that kubeadm (-kubeadm PATH)", version)
	}
	return append([]string(nil), refs...), nil
}

// KubeadmImages asks the kubeadm binary at path which images Kubernetes
// version needs (`kubeadm config images list`; no network is used when the
// version is given).
func KubeadmImages(ctx context.Context, kubeadm, version string) ([]string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubeadm, "config", "images", "list", "--kubernetes-version", version)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s config images list: %w: %s", kubeadm, err, strings.TrimSpace(stderr.String()))
	}
	refs := strings.Fields(stdout.String())
	if len(refs) == 0 {
		return nil, fmt.Errorf("%s config images list printed no image", kubeadm)
	}
	return refs, nil
}
