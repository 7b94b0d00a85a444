package kubeadm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var slowHost = Probes{TimeoutSeconds: 60, LivenessFailureThreshold: 30, StartupFailureThreshold: 90}

func TestProbePatches(t *testing.T) {
	if (Probes{}).Patches() != nil {
		t.Error("zero Probes made patches")
	}
	files := slowHost.Patches()
	if len(files) != len(ControlPlaneComponents) {
		t.Fatalf("%d patches, want one per component", len(files))
	}
	for _, c := range ControlPlaneComponents {
		data, ok := files[c+"+strategic.yaml"]
		if !ok {
			t.Fatalf("no patch for %s", c)
		}
		var doc struct {
			Spec struct {
				Containers []struct {
					Name          string         `yaml:"name"`
					LivenessProbe map[string]int `yaml:"livenessProbe"`
					StartupProbe  map[string]int `yaml:"startupProbe"`
				}
			}
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, data)
		}
		cs := doc.Spec.Containers
		if len(cs) != 1 || cs[0].Name != c ||
			cs[0].LivenessProbe["timeoutSeconds"] != 60 || cs[0].LivenessProbe["failureThreshold"] != 30 ||
			cs[0].StartupProbe["timeoutSeconds"] != 60 || cs[0].StartupProbe["failureThreshold"] != 90 {
			t.Errorf("%s patch:\n%s", c, data)
		}
	}
	// Only what is set is patched.
	only := Probes{StartupFailureThreshold: 60}.Patches()["kube-apiserver+strategic.yaml"]
	if strings.Contains(string(only), "livenessProbe") || strings.Contains(string(only), "timeoutSeconds") || !strings.Contains(string(only), "failureThreshold: 60") {
		t.Errorf("startup threshold only:\n%s", only)
	}
}

func TestProbesValidate(t *testing.T) {
	for _, p := range []Probes{{TimeoutSeconds: -1}, {TimeoutSeconds: 601}, {LivenessFailureThreshold: 1001}, {StartupFailureThreshold: -3}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := slowHost.Validate(); err != nil {
		t.Error(err)
	}
}

func TestRenderPatchesDirectory(t *testing.T) {
	for _, v := range []string{v1beta3Version, v1beta4Version} {
		for _, role := range roles {
			p := cluster(v, role)
			p.PatchesDir = "/etc/kubernetes/kiln-patches"
			out, err := Render(p)
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(string(out), "patches:\n  directory: /etc/kubernetes/kiln-patches\n")
			if want := role != RoleJoinWorker; has != want {
				t.Errorf("%s %s: patches directory written %v, want %v:\n%s", v, role, has, want, out)
			}
		}
	}
	p := cluster(v1beta4Version, RoleInit)
	p.PatchesDir = "relative/dir"
	if _, err := Render(p); err == nil || !strings.Contains(err.Error(), "patchesDir") {
		t.Errorf("relative patches directory: %v", err)
	}
}

// TestKubeadmAppliesProbePatches: the real kubeadm dry-runs an init with the patches and
// writes each static pod with the loosened probes.
func TestKubeadmAppliesProbePatches(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			bin := kubeadmBinary(t, version)
			dir := t.TempDir()
			for name, data := range slowHost.Patches() {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := cluster(version, RoleInit)
			p.PatchesDir = dir
			out, err := kubeadm(t, bin, "init", "--dry-run", "--ignore-preflight-errors=all", "--config", writeConfig(t, p))
			if err != nil {
				t.Fatalf("kubeadm %s init --dry-run: %v\n%s", version, err, out)
			}
			for _, c := range ControlPlaneComponents {
				if !strings.Contains(out, `to target "`+c+`"`) {
					t.Errorf("kubeadm %s did not patch %s", version, c)
				}
			}
			// kubeadm 1.30's dry run does not print etcd's manifest; 1.34's does.
			shown := strings.Count(out, `Would write file "/etc/kubernetes/manifests/`)
			if shown < 3 {
				t.Fatalf("kubeadm %s printed %d static pod manifests, want at least 3", version, shown)
			}
			if n := strings.Count(out, "failureThreshold: 90"); n != shown {
				t.Errorf("kubeadm %s wrote %d startup probes with failureThreshold 90 in %d manifests", version, n, shown)
			}
			if n := strings.Count(out, "failureThreshold: 30"); n != shown {
				t.Errorf("kubeadm %s wrote %d liveness probes with failureThreshold 30 in %d manifests", version, n, shown)
			}
			if n := strings.Count(out, "timeoutSeconds: 60"); n != 2*shown {
				t.Errorf("kubeadm %s wrote %d probes with timeoutSeconds 60 in %d manifests, want two each", version, n, shown)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}
