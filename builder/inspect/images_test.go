package inspect

import (
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/imageset"
)

func TestPreloadedNamesArchivesFromTheImageSet(t *testing.T) {
	d := "sha256:" + strings.Repeat("b", 64)
	set := `{"apiVersion":"kiln/v1","kind":"ImageSet","kubernetesVersion":"v1.34.2","loadBalancers":[],"cni":[],"images":{},
	  "kubeadm":{"imageRepository":"registry.k8s.io"},
	  "preloaded":[{"ref":"registry.k8s.io/pause:3.10.1","digest":"` + d + `","file":"registry.k8s.io_pause_3.10.1.tar"}]}`
	for _, tc := range []struct {
		name  string
		set   string
		files []string
		want  []imageset.Preloaded
	}{
		{"with a set", set, []string{"registry.k8s.io_pause_3.10.1.tar", "extra.tar", "notes.txt"},
			[]imageset.Preloaded{{File: "extra.tar"}, {Ref: "registry.k8s.io/pause:3.10.1", Digest: d, File: "registry.k8s.io_pause_3.10.1.tar"}}},
		{"without a set", "", []string{"a.tar"}, []imageset.Preloaded{{File: "a.tar"}}},
		{"no images", set, nil, []imageset.Preloaded{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := preloaded([]byte(tc.set), tc.files); !slices.Equal(got, tc.want) {
				t.Errorf("preloaded() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
