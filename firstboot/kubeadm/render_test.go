package kubeadm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Versions the golden files and the kubeadm oracle cover: the last v1beta3 release line and
// a v1beta4 one. test/tools/kubeadm/build.sh builds exactly these (make tools).
const (
	v1beta3Version = "v1.30.14"
	v1beta4Version = "v1.34.4"
)

const caHash = "sha256:2f1e3c8f6b0b1f1a5e0d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f"

// cluster returns the parameters of a three-control-plane cluster behind a VIP, as seen
// by the node in role.
func cluster(version string, role Role) Params {
	p := Params{
		Role:                 role,
		KubernetesVersion:    version,
		ClusterName:          "prod-1",
		ControlPlaneEndpoint: "10.0.0.100:8443",
		CertSANs:             []string{"10.0.0.11", "10.0.0.12", "10.0.0.13", "cp-1", "cp-2", "cp-3", "api.prod-1.example.com"},
		AdvertiseAddress:     "10.0.0.11",
		NodeName:             "cp-1",
		PodSubnet:            "10.244.0.0/16",
		BootstrapToken:       "abcdef.0123456789abcdef",
		BootstrapTokenTTL:    2 * time.Hour,
		ImageRepository:      "registry.k8s.io",
		NodeLabels:           map[string]string{"topology.kubernetes.io/zone": "site-a", "kiln.dev/pool": "control-plane"},
		KubeletExtraArgs:     map[string]string{"max-pods": "150"},
		ControlPlaneTimeout:  10 * time.Minute,
		DiscoveryTimeout:     15 * time.Minute,
		ProxyMode:            "ipvs",
		LeaderElection:       LeaderElection{LeaseDuration: 137 * time.Second, RenewDeadline: 107 * time.Second, RetryPeriod: 26 * time.Second},
	}
	switch role {
	case RoleJoinControlPlane:
		p.NodeName, p.AdvertiseAddress = "cp-2", "10.0.0.12"
		p.CACertHashes = []string{caHash}
		p.CertificateKey = strings.Repeat("0f", 32)
	case RoleJoinWorker:
		p.NodeName, p.AdvertiseAddress = "worker-1", ""
		p.CACertHashes = []string{caHash}
		p.NodeLabels = map[string]string{"topology.kubernetes.io/zone": "site-b"}
		p.Taints = []Taint{{Key: "kiln.dev/dedicated", Value: "batch", Effect: "NoSchedule"}}
	}
	return p
}

var roles = []Role{RoleInit, RoleJoinControlPlane, RoleJoinWorker}

func goldenName(apiVersion string, role Role) string {
	return filepath.Join("testdata", strings.TrimPrefix(apiVersion, "kubeadm.k8s.io/")+"-"+string(role)+".yaml")
}

func TestRenderGolden(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		for _, role := range roles {
			v, _ := ParseVersion(version)
			api, _ := APIVersion(v)
			name := goldenName(api, role)
			t.Run(name, func(t *testing.T) {
				got, err := Render(cluster(version, role))
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				again, _ := Render(cluster(version, role))
				if !bytes.Equal(got, again) {
					t.Fatalf("Render is not deterministic:\n%s\n---\n%s", got, again)
				}
				if *update {
					if err := os.WriteFile(name, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(name)
				if err != nil {
					t.Fatalf("reading golden file (go test -update writes it): %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("Render differs from %s (go test -update rewrites it):\n%s", name, got)
				}
			})
		}
	}
}

// docs decodes a multi-document YAML file into generic maps, keyed by kind.
func docs(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("decoding rendered YAML: %v", err)
		}
		out[m["kind"].(string)] = m
	}
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func TestRenderShapePerAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		version, api string
	}{
		{"v1.22.0", APIVersionV1Beta3},
		{"1.30.14", APIVersionV1Beta3},
		{"v1.31.0", APIVersionV1Beta4},
		{"v1.34.4", APIVersionV1Beta4},
		{"v1.36.0", APIVersionV1Beta4},
	} {
		out, err := Render(cluster(tc.version, RoleInit))
		if err != nil {
			t.Fatalf("Render(%s): %v", tc.version, err)
		}
		d := docs(t, out)
		ic, cc := d["InitConfiguration"], d["ClusterConfiguration"]
		if ic["apiVersion"] != tc.api || cc["apiVersion"] != tc.api {
			t.Errorf("%s: apiVersion = %v / %v, want %s", tc.version, ic["apiVersion"], cc["apiVersion"], tc.api)
		}
		args := get(ic, "nodeRegistration", "kubeletExtraArgs")
		timeout := get(cc, "apiServer", "timeoutForControlPlane")
		if tc.api == APIVersionV1Beta3 {
			if m, ok := args.(map[string]any); !ok || m["max-pods"] != "150" {
				t.Errorf("%s: kubeletExtraArgs = %#v, want a map with max-pods", tc.version, args)
			}
			if timeout != "10m0s" || get(ic, "timeouts") != nil {
				t.Errorf("%s: control-plane timeout not in apiServer.timeoutForControlPlane", tc.version)
			}
		} else {
			l, ok := args.([]any)
			if !ok || len(l) != 2 || get(l[0].(map[string]any), "name") != "max-pods" {
				t.Errorf("%s: kubeletExtraArgs = %#v, want a sorted name/value list", tc.version, args)
			}
			if timeout != nil || get(ic, "timeouts", "controlPlaneComponentHealthCheck") != "10m0s" {
				t.Errorf("%s: control-plane timeout not in timeouts.controlPlaneComponentHealthCheck", tc.version)
			}
		}
		for _, c := range []string{"controllerManager", "scheduler"} {
			args := get(cc, c, "extraArgs")
			want := map[string]any{"leader-elect-lease-duration": "2m17s", "leader-elect-renew-deadline": "1m47s", "leader-elect-retry-period": "26s"}
			got := map[string]any{}
			if l, ok := args.([]any); ok && tc.api == APIVersionV1Beta4 {
				for _, a := range l {
					got[get(a.(map[string]any), "name").(string)] = get(a.(map[string]any), "value")
				}
			} else if m, ok := args.(map[string]any); ok && tc.api == APIVersionV1Beta3 {
				got = m
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s.extraArgs = %#v, want the leader-election timings %v", tc.version, c, args, want)
			}
		}
		if cc["kubernetesVersion"] != "v"+strings.TrimPrefix(tc.version, "v") {
			t.Errorf("%s: kubernetesVersion = %v", tc.version, cc["kubernetesVersion"])
		}
		if d["KubeletConfiguration"]["cgroupDriver"] != "systemd" {
			t.Errorf("%s: KubeletConfiguration.cgroupDriver = %v, want systemd", tc.version, d["KubeletConfiguration"]["cgroupDriver"])
		}
		sans, _ := get(cc, "apiServer", "certSANs").([]any)
		if len(sans) == 0 || sans[0] != "10.0.0.100" {
			t.Errorf("%s: certSANs = %v, want the VIP first", tc.version, sans)
		}
	}
}

func TestRenderTaints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		taints []Taint
		want   any // nodeRegistration.taints after decoding
	}{
		{"nil keeps kubeadm's default", nil, nil},
		{"empty removes all taints", []Taint{}, []any{}},
		{"given", []Taint{{Key: "a", Effect: "NoExecute"}}, []any{map[string]any{"key": "a", "effect": "NoExecute"}}},
	} {
		p := cluster(v1beta4Version, RoleInit)
		p.Taints = tc.taints
		out, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		nr := get(docs(t, out)["InitConfiguration"], "nodeRegistration").(map[string]any)
		got, present := nr["taints"]
		if tc.want == nil && present {
			t.Errorf("%s: taints = %#v, want the key absent", tc.name, got)
		}
		if tc.want != nil && (!present || yamlString(t, got) != yamlString(t, tc.want)) {
			t.Errorf("%s: taints = %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func yamlString(t *testing.T, v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderJoinShape(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		cp := docs(t, must(Render(cluster(version, RoleJoinControlPlane))))["JoinConfiguration"]
		if get(cp, "controlPlane", "localAPIEndpoint", "advertiseAddress") != "10.0.0.12" ||
			get(cp, "controlPlane", "localAPIEndpoint", "bindPort") != 6443 {
			t.Errorf("%s: controlPlane.localAPIEndpoint = %v", version, get(cp, "controlPlane"))
		}
		if get(cp, "discovery", "bootstrapToken", "apiServerEndpoint") != "10.0.0.100:8443" {
			t.Errorf("%s: discovery endpoint = %v", version, get(cp, "discovery"))
		}
		w := docs(t, must(Render(cluster(version, RoleJoinWorker))))["JoinConfiguration"]
		if get(w, "controlPlane") != nil {
			t.Errorf("%s: worker join has a controlPlane section", version)
		}
		hashes, _ := get(w, "discovery", "bootstrapToken", "caCertHashes").([]any)
		if len(hashes) != 1 || hashes[0] != caHash {
			t.Errorf("%s: caCertHashes = %v", version, hashes)
		}
	}
}

// fileJoin is cluster(version, role) joining with a discovery file instead of the token.
func fileJoin(version string, role Role, path string) Params {
	p := cluster(version, role)
	p.BootstrapToken, p.BootstrapTokenTTL, p.CACertHashes, p.CertificateKey = "", 0, nil, ""
	p.DiscoveryFile = path
	return p
}

// TestRenderDiscoveryFile: a join with a node credential names the kubeconfig under
// discovery.file and carries no token, no CA hash and no certificate key.
func TestRenderDiscoveryFile(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		for _, role := range []Role{RoleJoinWorker, RoleJoinControlPlane} {
			out := must(Render(fileJoin(version, role, "/etc/kubernetes/kiln-join.conf")))
			j := docs(t, out)["JoinConfiguration"]
			if got := get(j, "discovery", "file", "kubeConfigPath"); got != "/etc/kubernetes/kiln-join.conf" {
				t.Errorf("%s %s: discovery.file.kubeConfigPath = %v", version, role, got)
			}
			if get(j, "discovery", "bootstrapToken") != nil || get(j, "discovery", "tlsBootstrapToken") != nil ||
				get(j, "controlPlane", "certificateKey") != nil || bytes.Contains(out, []byte("token")) {
				t.Errorf("%s %s: a join with a discovery file carries a token or key:\n%s", version, role, out)
			}
		}
	}
}

// TestRenderInitWithoutToken: init with no token leaves bootstrapTokens out, so kubeadm
// makes its own with its default 24-hour TTL.
func TestRenderInitWithoutToken(t *testing.T) {
	p := cluster(v1beta4Version, RoleInit)
	p.BootstrapToken, p.BootstrapTokenTTL = "", 0
	if got := get(docs(t, must(Render(p)))["InitConfiguration"], "bootstrapTokens"); got != nil {
		t.Errorf("bootstrapTokens = %v, want none", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestRenderRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Params)
		field string // must appear in the message
	}{
		{"version before 1.22", func(p *Params) { p.KubernetesVersion = "v1.21.14" }, "1.22"},
		{"version 2.x", func(p *Params) { p.KubernetesVersion = "v2.0.0" }, "not supported"},
		{"malformed version", func(p *Params) { p.KubernetesVersion = "1.30" }, "kubernetesVersion"},
		{"pre-release version", func(p *Params) { p.KubernetesVersion = "v1.30.0-rc.1" }, "kubernetesVersion"},
		{"no role", func(p *Params) { p.Role = "" }, "role"},
		{"endpoint without port", func(p *Params) { p.ControlPlaneEndpoint = "10.0.0.100" }, "controlPlaneEndpoint"},
		{"endpoint bad port", func(p *Params) { p.ControlPlaneEndpoint = "10.0.0.100:0" }, "controlPlaneEndpoint"},
		{"advertise not an IP", func(p *Params) { p.AdvertiseAddress = "cp-1" }, "advertiseAddress"},
		{"node name uppercase", func(p *Params) { p.NodeName = "CP-1" }, "nodeName"},
		{"bad token", func(p *Params) { p.BootstrapToken = "abcdef0123456789abcdef" }, "bootstrapToken"},
		{"bad pod subnet", func(p *Params) { p.PodSubnet = "10.244.0.1/16" }, "podSubnet"},
		{"bad service subnet", func(p *Params) { p.ServiceSubnet = "nope" }, "serviceSubnet"},
		{"bad SAN", func(p *Params) { p.CertSANs = []string{"a b"} }, "certSANs[0]"},
		{"bad label", func(p *Params) { p.NodeLabels = map[string]string{"a": "b c"} }, "nodeLabels"},
		{"labels twice", func(p *Params) { p.KubeletExtraArgs = map[string]string{"node-labels": "a=b"} }, "node-labels"},
		{"flag with dashes", func(p *Params) { p.KubeletExtraArgs = map[string]string{"--v": "2"} }, "kubeletExtraArgs"},
		{"leader election partly set", func(p *Params) { p.LeaderElection = LeaderElection{LeaseDuration: time.Minute} }, "leaderElection"},
		{"lease not longer than renew", func(p *Params) {
			p.LeaderElection = LeaderElection{LeaseDuration: time.Minute, RenewDeadline: time.Minute, RetryPeriod: time.Second}
		}, "leaseDuration"},
		{"renew within a jittered retry", func(p *Params) {
			p.LeaderElection = LeaderElection{LeaseDuration: time.Minute, RenewDeadline: 10 * time.Second, RetryPeriod: 9 * time.Second}
		}, "retryPeriod"},
		{"bad taint effect", func(p *Params) { p.Taints = []Taint{{Key: "a", Effect: "Never"}} }, "taints[0]"},
		{"bad proxy mode", func(p *Params) { p.ProxyMode = "userspace" }, "proxyMode"},
		{"bad cri socket", func(p *Params) { p.CRISocket = "/run/containerd/containerd.sock" }, "criSocket"},
		{"bad certificate key", func(p *Params) { p.CertificateKey = "xyz" }, "certificateKey"},
		{"bad phase", func(p *Params) { p.SkipPhases = []string{"Addon Proxy"} }, "skipPhases[0]"},
	} {
		p := cluster(v1beta4Version, RoleInit)
		tc.edit(&p)
		_, err := Render(p)
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Render error = %v, want ErrInvalidParams naming %q", tc.name, err, tc.field)
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Params)
		field string
	}{
		{"join without CA hash", func(p *Params) { p.CACertHashes = nil }, "caCertHashes"},
		{"join with bad CA hash", func(p *Params) { p.CACertHashes = []string{"md5:00"} }, "caCertHashes[0]"},
		{"worker with advertise address", func(p *Params) { p.AdvertiseAddress = "10.0.0.21" }, "advertiseAddress"},
		{"worker with certificate key", func(p *Params) { p.CertificateKey = strings.Repeat("0f", 32) }, "certificateKey"},
		{"join without token or discovery file", func(p *Params) { p.BootstrapToken = "" }, "bootstrapToken"},
		{"discovery file and token", func(p *Params) { p.DiscoveryFile = "/etc/kubernetes/kiln-join.conf" }, "discoveryFile"},
		{"relative discovery file", func(p *Params) {
			p.DiscoveryFile, p.BootstrapToken, p.CACertHashes = "kiln-join.conf", "", nil
		}, "discoveryFile"},
	} {
		p := cluster(v1beta3Version, RoleJoinWorker)
		tc.edit(&p)
		_, err := Render(p)
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Render error = %v, want ErrInvalidParams naming %q", tc.name, err, tc.field)
		}
	}
}

func TestRenderDefaults(t *testing.T) {
	out, err := Render(Params{
		Role:                 RoleInit,
		KubernetesVersion:    "1.34.4",
		ControlPlaneEndpoint: "10.0.0.100:8443",
		AdvertiseAddress:     "10.0.0.11",
		NodeName:             "cp-1",
		BootstrapToken:       "abcdef.0123456789abcdef",
	})
	if err != nil {
		t.Fatal(err)
	}
	d := docs(t, out)
	for _, c := range []struct {
		got  any
		want any
	}{
		{get(d["ClusterConfiguration"], "clusterName"), DefaultClusterName},
		{get(d["ClusterConfiguration"], "networking", "podSubnet"), DefaultPodSubnet},
		{get(d["ClusterConfiguration"], "networking", "serviceSubnet"), DefaultServiceSubnet},
		{get(d["ClusterConfiguration"], "networking", "dnsDomain"), DefaultDNSDomain},
		{get(d["InitConfiguration"], "nodeRegistration", "criSocket"), DefaultCRISocket},
		{get(d["InitConfiguration"], "localAPIEndpoint", "bindPort"), DefaultBindPort},
	} {
		if c.got != c.want {
			t.Errorf("default = %v, want %v", c.got, c.want)
		}
	}
	if _, ok := d["KubeProxyConfiguration"]; ok {
		t.Error("KubeProxyConfiguration written without a ProxyMode")
	}
}

func TestRenderImageOverrides(t *testing.T) {
	for _, tc := range []struct {
		name       string
		etcd, dns  ImageMeta
		want, none []string
	}{
		{"none", ImageMeta{}, ImageMeta{}, nil, []string{"etcd:", "dns:"}},
		{"etcd and dns", ImageMeta{"kiln.test/k8s", "3.6.5-0"}, ImageMeta{"registry.k8s.io/coredns", "v1.12.4"},
			[]string{"etcd:\n  local:\n    imageRepository: kiln.test/k8s\n    imageTag: 3.6.5-0\n",
				"dns:\n  imageRepository: registry.k8s.io/coredns\n  imageTag: v1.12.4\n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := cluster(v1beta4Version, RoleInit)
			p.EtcdImage, p.DNSImage = tc.etcd, tc.dns
			out, err := Render(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("Render() lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.none {
				if strings.Contains(string(out), w) {
					t.Errorf("Render() has %q:\n%s", w, out)
				}
			}
		})
	}
	p := cluster(v1beta4Version, RoleInit)
	p.EtcdImage.Tag = "3.6.5:0"
	if _, err := Render(p); !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), "etcdImage.tag") {
		t.Errorf("Render(bad etcd tag) error = %v, want one naming etcdImage.tag", err)
	}
}
