package clusterimages

import (
	"context"
	"slices"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
)

// The recorded list is what real kubeadm prints (test/tools/kubeadm/build.sh
// builds it into build/tools).
func TestKnownKubeadmImagesMatchKubeadm(t *testing.T) {
	for version := range knownKubeadmImages {
		kubeadm := reftest.Built(t, "kubeadm-"+version)
		got, err := KubeadmImages(context.Background(), kubeadm, version)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := KnownKubeadmImages(version)
		if !slices.Equal(got, want) {
			t.Errorf("kubeadm %s lists %q, recorded %q", version, got, want)
		}
	}
}
