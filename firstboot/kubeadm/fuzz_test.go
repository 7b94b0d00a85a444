package kubeadm

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzRender feeds arbitrary node-supplied strings to Render: it must never panic, and
// whatever it accepts must come back out of the YAML unchanged (no value can inject keys or
// documents).
func FuzzRender(f *testing.F) {
	f.Add("v1.34.4", "cp-1", "10.0.0.100:8443", "10.0.0.11", "abcdef.0123456789abcdef", "site-a", "150")
	f.Add("1.30.0", "a.b", "vip.example.com:443", "::1", "zzzzzz.zzzzzzzzzzzzzzzz", "", "x: y")
	f.Add("v1.22.0", "n", "[fd00::1]:6443", "fd00::2", "abcdef.0123456789abcdef", "a,b", "\"")
	f.Fuzz(func(t *testing.T, version, node, endpoint, addr, token, label, arg string) {
		p := Params{
			Role:                 RoleInit,
			KubernetesVersion:    version,
			ControlPlaneEndpoint: endpoint,
			AdvertiseAddress:     addr,
			NodeName:             node,
			BootstrapToken:       token,
			NodeLabels:           map[string]string{"zone": label},
			KubeletExtraArgs:     map[string]string{"max-pods": arg},
		}
		out, err := Render(p)
		if err != nil {
			return
		}
		dec := yaml.NewDecoder(bytes.NewReader(out))
		var init struct {
			Kind             string `yaml:"kind"`
			NodeRegistration struct {
				Name string `yaml:"name"`
			} `yaml:"nodeRegistration"`
			LocalAPIEndpoint struct {
				AdvertiseAddress string `yaml:"advertiseAddress"`
			} `yaml:"localAPIEndpoint"`
			BootstrapTokens []struct {
				Token string `yaml:"token"`
			} `yaml:"bootstrapTokens"`
		}
		if err := dec.Decode(&init); err != nil {
			t.Fatalf("rendered YAML does not decode: %v\n%s", err, out)
		}
		if init.Kind != "InitConfiguration" || init.NodeRegistration.Name != node ||
			init.LocalAPIEndpoint.AdvertiseAddress != addr || len(init.BootstrapTokens) != 1 || init.BootstrapTokens[0].Token != token {
			t.Fatalf("values did not round-trip:\n%s", out)
		}
		var cluster struct {
			Kind                 string `yaml:"kind"`
			ControlPlaneEndpoint string `yaml:"controlPlaneEndpoint"`
		}
		if err := dec.Decode(&cluster); err != nil || cluster.Kind != "ClusterConfiguration" || cluster.ControlPlaneEndpoint != endpoint {
			t.Fatalf("ClusterConfiguration did not round-trip (%v):\n%s", err, out)
		}
	})
}
