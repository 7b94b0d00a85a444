package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestManifestGolden(t *testing.T) {
	for _, plugin := range Plugins() {
		t.Run(string(plugin), func(t *testing.T) {
			got, err := Manifest(plugin, "10.244.0.0/16")
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Manifest(plugin, "10.244.0.0/16")
			if !bytes.Equal(got, again) {
				t.Fatal("Manifest is not deterministic")
			}
			golden := filepath.Join("testdata", string(plugin)+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (go test -update writes it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Manifest(%s) differs from %s (go test -update rewrites it)", plugin, golden)
			}
		})
	}
}

// objects decodes every document of a manifest.
func objects(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("manifest is not YAML: %v", err)
		}
		if m == nil {
			t.Fatalf("empty document after %d objects", len(out))
		}
		out = append(out, m)
	}
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func find(t *testing.T, objs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o["kind"] == kind && dig(o, "metadata", "name") == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the manifest", kind, name)
	return nil
}

// images collects every container image the manifest's workloads run.
func images(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		spec := dig(o, "spec", "template", "spec")
		for _, list := range []string{"initContainers", "containers"} {
			cs, _ := dig(spec, list).([]any)
			for _, c := range cs {
				if img, ok := dig(c, "image").(string); ok && !slices.Contains(out, img) {
					out = append(out, img)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestFlannelSubnet(t *testing.T) {
	for _, subnet := range []string{"10.244.0.0/16", "172.16.0.0/12", "192.168.128.0/23"} {
		data, err := Manifest(Flannel, subnet)
		if err != nil {
			t.Fatalf("Manifest(flannel, %s): %v", subnet, err)
		}
		cm := find(t, objects(t, data), "ConfigMap", "kube-flannel-cfg")
		var netConf struct {
			Network string
			Backend struct{ Type string }
		}
		if err := json.Unmarshal([]byte(dig(cm, "data", "net-conf.json").(string)), &netConf); err != nil {
			t.Fatalf("net-conf.json is not JSON: %v", err)
		}
		if netConf.Network != subnet || netConf.Backend.Type != "vxlan" {
			t.Errorf("net-conf.json = %+v, want Network %s and the vxlan backend", netConf, subnet)
		}
		var cniConf map[string]any
		if err := json.Unmarshal([]byte(dig(cm, "data", "cni-conf.json").(string)), &cniConf); err != nil {
			t.Errorf("cni-conf.json is not JSON: %v", err)
		}
	}
}

func TestCalicoSubnet(t *testing.T) {
	for _, subnet := range []string{"10.244.0.0/16", "192.168.0.0/24"} {
		data, err := Manifest(Calico, subnet)
		if err != nil {
			t.Fatalf("Manifest(calico, %s): %v", subnet, err)
		}
		objs := objects(t, data)
		ds := find(t, objs, "DaemonSet", "calico-node")
		env := map[string]any{}
		for _, e := range dig(ds, "spec", "template", "spec", "containers", 0, "env").([]any) {
			env[dig(e, "name").(string)] = dig(e, "value")
		}
		if env["CALICO_IPV4POOL_CIDR"] != subnet || env["CALICO_IPV4POOL_VXLAN"] != "Always" {
			t.Errorf("calico-node pool env = %v / %v, want %s and VXLAN", env["CALICO_IPV4POOL_CIDR"], env["CALICO_IPV4POOL_VXLAN"], subnet)
		}
		cm := find(t, objs, "ConfigMap", "calico-config")
		// install-cni substitutes the placeholders; after that the configuration is JSON.
		conf := strings.NewReplacer("__CNI_MTU__", "1450", "__KUBERNETES_NODE_NAME__", "n",
			"__KUBECONFIG_FILEPATH__", "/k").Replace(dig(cm, "data", "cni_network_config").(string))
		var v map[string]any
		if err := json.Unmarshal([]byte(conf), &v); err != nil {
			t.Errorf("cni_network_config is not JSON after substitution: %v", err)
		}
		if dig(cm, "data", "calico_backend") != "vxlan" {
			t.Errorf("calico_backend = %v, want vxlan", dig(cm, "data", "calico_backend"))
		}
		crds := 0
		for _, o := range objs {
			if o["kind"] == "CustomResourceDefinition" {
				crds++
			}
		}
		if crds != len(calicoCRDs) {
			t.Errorf("%d CRDs in the manifest, want %d", crds, len(calicoCRDs))
		}
	}
}

// TestImagesMatchManifest: Images lists exactly what the manifest runs, so preloading it
// is enough for an offline first boot.
func TestImagesMatchManifest(t *testing.T) {
	for _, plugin := range Plugins() {
		data, err := Manifest(plugin, "10.244.0.0/16")
		if err != nil {
			t.Fatal(err)
		}
		want, err := Images(plugin)
		if err != nil {
			t.Fatal(err)
		}
		if got := images(objects(t, data)); !slices.Equal(got, want) {
			t.Errorf("%s: manifest runs %v, Images says %v", plugin, got, want)
		}
		for _, img := range want {
			if i := strings.LastIndex(img, ":"); i < 0 || strings.Contains(img[i:], "/") || strings.HasSuffix(img, ":latest") {
				t.Errorf("%s: image %q is not pinned to a tag", plugin, img)
			}
		}
	}
}

func TestManifestRejects(t *testing.T) {
	for _, tc := range []struct {
		plugin Plugin
		subnet string
	}{
		{Flannel, "10.244.0.0"},
		{Flannel, "10.244.0.1/16"},
		{Flannel, "fd00::/48"},
		{Flannel, "10.244.0.0/24"},
		{Calico, "10.244.0.0/27"},
		{Calico, `10.244.0.0/16"`},
		{"weave", "10.244.0.0/16"},
	} {
		if _, err := Manifest(tc.plugin, tc.subnet); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Manifest(%s, %q) error = %v, want ErrInvalidParams", tc.plugin, tc.subnet, err)
		}
	}
	if _, err := Images("weave"); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("Images(weave) error = %v, want ErrInvalidParams", err)
	}
}

// TestManifestsValidate hands every document to manifestcheck (built by `make tools` from
// Kubernetes' own API machinery): strict decoding into the typed object, defaulting and the
// API server's validation of the kind (DaemonSet, Deployment, RBAC, CRD, ...).
func TestManifestsValidate(t *testing.T) {
	bin := manifestcheck(t)
	dir := t.TempDir()
	var paths []string
	docs := 0
	for _, plugin := range Plugins() {
		data, err := Manifest(plugin, "10.244.0.0/16")
		if err != nil {
			t.Fatal(err)
		}
		docs += len(objects(t, data))
		path := filepath.Join(dir, string(plugin)+".yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, paths...).CombinedOutput()
	if err != nil {
		t.Fatalf("manifestcheck: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), ": ok\n"); n != docs {
		t.Errorf("manifestcheck passed %d of %d documents:\n%s", n, docs, out)
	}
}

func manifestcheck(t *testing.T) string {
	t.Helper()
	return reftest.Built(t, "manifestcheck-v1.34.4")
}

// An image the build chose (e.g. an internal mirror) replaces the default in every place
// the manifest runs it; the fields left empty keep the defaults.
func TestManifestWithRunsTheGivenImages(t *testing.T) {
	for _, tc := range []struct {
		plugin       Plugin
		refs         ImageRefs
		want, absent string
		kept         string
	}{
		{Flannel, ImageRefs{Flannel: "kiln.test/flannel:v0.28.9"}, "image: kiln.test/flannel:v0.28.9", "image: " + DefaultImageRefs().Flannel, DefaultImageRefs().FlannelCNIPlugin},
		{Calico, ImageRefs{CalicoNode: "kiln.test/calico/node:v3.31.7"}, "image: kiln.test/calico/node:v3.31.7", "image: " + DefaultImageRefs().CalicoNode, DefaultImageRefs().CalicoCNI},
	} {
		data, err := ManifestWith(tc.plugin, "10.244.0.0/16", tc.refs)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if !strings.Contains(s, tc.want) || strings.Contains(s, tc.absent) || !strings.Contains(s, tc.kept) {
			t.Errorf("ManifestWith(%s, %+v): want %q, no %q, and %q kept", tc.plugin, tc.refs, tc.want, tc.absent, tc.kept)
		}
	}
}
