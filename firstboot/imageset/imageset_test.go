package imageset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMarshalParseRoundTrip(t *testing.T) {
	in := &Set{APIVersion: APIVersion, Kind: Kind, KubernetesVersion: "v1.34.2",
		LoadBalancers: []string{LBKeepalivedHAProxy}, CNI: []string{CNIFlannel},
		Images:    map[string]string{HAProxy: "kiln.test/haproxy:2.6.12", Pause: "registry.k8s.io/pause:3.10.1"},
		Kubeadm:   KubeadmImages{ImageRepository: "registry.k8s.io", Etcd: &ImageOverride{"kiln.test", "3.6.5-0"}},
		Aliases:   map[string]string{"registry.k8s.io/pause:3.10.1": "kiln.test/pause:3.10.1"},
		Preloaded: []Preloaded{{Ref: "kiln.test/haproxy:2.6.12", Digest: "sha256:" + strings.Repeat("a", 64), File: "kiln.test_haproxy_2.6.12.tar"}},
	}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(Path)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, Path), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Read(root)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := out.Marshal()
	if string(again) != string(data) {
		t.Errorf("round trip changed the set:\n%s\nwant\n%s", again, data)
	}
	if got := out.Ref(HAProxy); got != "kiln.test/haproxy:2.6.12" {
		t.Errorf("Ref(haproxy) = %q", got)
	}
}

func TestReadWithoutTheFileIsNotAnError(t *testing.T) {
	s, err := Read(t.TempDir())
	if s != nil || err != nil {
		t.Fatalf("Read(empty root) = %v, %v, want nil, nil", s, err)
	}
	if got := s.Ref(Pause); got != "" {
		t.Errorf("nil Set: Ref(pause) = %q, want \"\"", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", `{"apiVersion":"kiln/v1","kind":"ImageSet","imagez":{}}`, `unknown field "imagez"`},
		{"other kind", `{"apiVersion":"kiln/v1","kind":"NodeConfig"}`, `kind "NodeConfig" is not supported`},
		{"empty ref", `{"apiVersion":"kiln/v1","kind":"ImageSet","images":{"etcd":""}}`, "images.etcd: empty reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%s) error = %v, want %q", tc.doc, err, tc.want)
			}
		})
	}
}

func TestNamesCoverEveryModeAndCNI(t *testing.T) {
	names := Names()
	if len(names) != 15 {
		t.Errorf("Names() = %q, want 15 names", names)
	}
	for _, m := range LoadBalancers {
		if _, ok := LoadBalancerImages(m); !ok {
			t.Errorf("LoadBalancerImages(%q) unknown", m)
		}
	}
	for _, c := range CNIs {
		if _, ok := CNIImages(c); !ok {
			t.Errorf("CNIImages(%q) unknown", c)
		}
	}
	if _, ok := LoadBalancerImages("external"); ok {
		t.Error("LoadBalancerImages(external) is known, want unknown: it runs no image")
	}
}

// The example of docs/metadata.md is a valid image set.
func TestDocExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metadata.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "### The image set:")
	_, rest, _ = strings.Cut(rest, "```json\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/metadata.md has no JSON example under ### The image set")
	}
	s, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 11 || s.Kubeadm.Etcd == nil || s.Ref(HAProxy) != "kiln.test/haproxy:2.6.12" {
		t.Errorf("example parsed as %+v", s)
	}
}
