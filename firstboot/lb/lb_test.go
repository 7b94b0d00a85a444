package lb

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var peers = []Peer{
	{Name: "cp-1", Address: "10.0.0.11"},
	{Name: "cp-2", Address: "10.0.0.12"},
	{Name: "cp-3", Address: "10.0.0.13"},
}

func haParams(self string) Params {
	return Params{
		Mode:      ModeKeepalivedHAProxy,
		VIP:       "10.0.0.100",
		Interface: "eth0",
		Peers:     peers,
		Self:      self,
		AuthPass:  "k1lnvrrp",
		Images:    DefaultImages(),
	}
}

func kubeVIPParams(kubeconfig string) Params {
	return Params{
		Mode:       ModeKubeVIP,
		VIP:        "10.0.0.100",
		Interface:  "ens192",
		Peers:      peers,
		Self:       "cp-1",
		Kubeconfig: kubeconfig,
		Images:     DefaultImages(),
	}
}

var goldenCases = []struct {
	name string
	p    Params
}{
	{"keepalived-haproxy-cp-1", haParams("cp-1")},
	{"keepalived-haproxy-cp-3", haParams("cp-3")},
	{"kube-vip-init", kubeVIPParams(SuperAdminKubeconfig)},
	{"kube-vip", kubeVIPParams("")},
}

func render(t *testing.T, p Params) map[string]File {
	t.Helper()
	files, err := Render(p)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	out := map[string]File{}
	for i, f := range files {
		if i > 0 && files[i-1].Path >= f.Path {
			t.Errorf("files not sorted by path: %s before %s", files[i-1].Path, f.Path)
		}
		out[f.Path] = f
	}
	return out
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			files := render(t, tc.p)
			again := render(t, tc.p)
			for path, f := range files {
				if !bytes.Equal(f.Data, again[path].Data) {
					t.Errorf("%s: Render is not deterministic", path)
				}
				golden := filepath.Join("testdata", tc.name, filepath.FromSlash(path))
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("reading golden file (go test -update writes it): %v", err)
				}
				if !bytes.Equal(f.Data, want) {
					t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", path, golden, f.Data)
				}
			}
		})
	}
}

func TestRenderFileSets(t *testing.T) {
	ha := render(t, haParams("cp-2"))
	want := map[string]os.FileMode{
		"etc/haproxy/haproxy.cfg":                  0o644,
		"etc/keepalived/check_apiserver.sh":        0o755,
		"etc/keepalived/keepalived.conf":           0o644,
		"etc/kubernetes/manifests/haproxy.yaml":    0o600,
		"etc/kubernetes/manifests/keepalived.yaml": 0o600,
	}
	if len(ha) != len(want) {
		t.Errorf("keepalived-haproxy renders %d files, want %d", len(ha), len(want))
	}
	for path, mode := range want {
		if f, ok := ha[path]; !ok || f.Mode != mode {
			t.Errorf("%s: mode %v (present %v), want %v", path, f.Mode, ok, mode)
		}
	}
	kv := render(t, kubeVIPParams(""))
	if _, ok := kv["etc/kubernetes/manifests/kube-vip.yaml"]; !ok || len(kv) != 1 {
		t.Errorf("kube-vip renders %v, want only etc/kubernetes/manifests/kube-vip.yaml", kv)
	}
}

func TestKeepalivedPerPeer(t *testing.T) {
	for i, p := range peers {
		conf := string(render(t, haParams(p.Name))["etc/keepalived/keepalived.conf"].Data)
		state := "BACKUP"
		if i == 0 {
			state = "MASTER"
		}
		for _, want := range []string{
			"state " + state + "\n",
			"priority " + []string{"150", "149", "148"}[i] + "\n",
			"unicast_src_ip " + p.Address + "\n",
			"virtual_router_id 51\n",
			"interface eth0\n",
			"auth_pass k1lnvrrp\n",
			"        10.0.0.100\n",
			"weight -50\n",
			`script "/etc/keepalived/check_apiserver.sh"`,
		} {
			if !strings.Contains(conf, want) {
				t.Errorf("%s: keepalived.conf lacks %q", p.Name, want)
			}
		}
		peerBlock := conf[strings.Index(conf, "unicast_peer {"):]
		peerBlock = peerBlock[:strings.Index(peerBlock, "}")]
		for _, q := range peers {
			if has := strings.Contains(peerBlock, q.Address); has == (q.Name == p.Name) {
				t.Errorf("%s: unicast_peer block %q: %s present = %v", p.Name, peerBlock, q.Address, has)
			}
		}
	}
}

func TestHAProxyBackends(t *testing.T) {
	p := haParams("cp-1")
	p.Port, p.APIServerPort = 9443, 6444
	cfg := string(render(t, p)["etc/haproxy/haproxy.cfg"].Data)
	for _, want := range []string{
		"bind *:9443\n",
		"balance roundrobin\n",
		"option httpchk GET /healthz\n",
		"server cp-1 10.0.0.11:6444 check check-ssl verify none\n",
		"server cp-2 10.0.0.12:6444 check check-ssl verify none\n",
		"server cp-3 10.0.0.13:6444 check check-ssl verify none\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, cfg)
		}
	}
	check := string(render(t, p)["etc/keepalived/check_apiserver.sh"].Data)
	for _, want := range []string{"https://localhost:9443/healthz", "https://10.0.0.100:9443/healthz", `grep -qF " 10.0.0.100/"`} {
		if !strings.Contains(check, want) {
			t.Errorf("check_apiserver.sh lacks %q", want)
		}
	}
}

// TestConfigHashFollowsConfig: a changed configuration changes the static pod manifest, so
// the kubelet restarts the pod.
func TestConfigHashFollowsConfig(t *testing.T) {
	a := render(t, haParams("cp-1"))
	p := haParams("cp-1")
	p.Peers = append(p.Peers, Peer{Name: "cp-4", Address: "10.0.0.14"})
	b := render(t, p)
	for _, m := range []string{"etc/kubernetes/manifests/haproxy.yaml", "etc/kubernetes/manifests/keepalived.yaml"} {
		if bytes.Equal(a[m].Data, b[m].Data) {
			t.Errorf("%s unchanged after the peers changed", m)
		}
	}
}

func TestKubeVIPKubeconfig(t *testing.T) {
	for _, tc := range []struct {
		version      string
		initializing bool
		want         string
	}{
		{"v1.28.15", true, AdminKubeconfig},
		{"v1.29.0", true, SuperAdminKubeconfig},
		{"v1.34.4", true, SuperAdminKubeconfig},
		{"v1.34.4", false, AdminKubeconfig},
	} {
		got, err := KubeVIPKubeconfig(tc.version, tc.initializing)
		if err != nil || got != tc.want {
			t.Errorf("KubeVIPKubeconfig(%q, %v) = %q, %v, want %q", tc.version, tc.initializing, got, err, tc.want)
		}
	}
	if _, err := KubeVIPKubeconfig("latest", true); err == nil {
		t.Error("KubeVIPKubeconfig(latest) succeeded")
	}
}

// pod decodes a static pod manifest generically.
func pod(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("static pod manifest is not YAML: %v", err)
	}
	return m
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

func TestStaticPodShape(t *testing.T) {
	ha := render(t, haParams("cp-1"))
	images := DefaultImages()
	for _, tc := range []struct {
		manifest, image string
		caps            []string
		hostPaths       []string
	}{
		{"etc/kubernetes/manifests/haproxy.yaml", images.HAProxy, nil, []string{"/etc/haproxy/haproxy.cfg"}},
		{"etc/kubernetes/manifests/keepalived.yaml", images.Keepalived, []string{"NET_ADMIN", "NET_BROADCAST", "NET_RAW"},
			[]string{"/etc/keepalived/keepalived.conf", "/etc/keepalived/check_apiserver.sh"}},
	} {
		m := pod(t, ha[tc.manifest].Data)
		if m["kind"] != "Pod" || dig(m, "metadata", "namespace") != "kube-system" || dig(m, "spec", "hostNetwork") != true {
			t.Errorf("%s: not a hostNetwork Pod in kube-system", tc.manifest)
		}
		if got := dig(m, "spec", "containers", 0, "image"); got != tc.image {
			t.Errorf("%s: image %v, want %s", tc.manifest, got, tc.image)
		}
		for i, c := range tc.caps {
			if got := dig(m, "spec", "containers", 0, "securityContext", "capabilities", "add", i); got != c {
				t.Errorf("%s: capability %d = %v, want %s", tc.manifest, i, got, c)
			}
		}
		for i, hp := range tc.hostPaths {
			if got := dig(m, "spec", "volumes", i, "hostPath", "path"); got != hp {
				t.Errorf("%s: volume %d host path %v, want %s", tc.manifest, i, got, hp)
			}
		}
	}
	for kubeconfig, want := range map[string]string{"": AdminKubeconfig, SuperAdminKubeconfig: SuperAdminKubeconfig} {
		m := pod(t, render(t, kubeVIPParams(kubeconfig))["etc/kubernetes/manifests/kube-vip.yaml"].Data)
		if got := dig(m, "spec", "volumes", 0, "hostPath", "path"); got != want {
			t.Errorf("kube-vip with kubeconfig %q mounts %v, want %s", kubeconfig, got, want)
		}
		if got := dig(m, "spec", "containers", 0, "volumeMounts", 0, "mountPath"); got != AdminKubeconfig {
			t.Errorf("kube-vip reads its kubeconfig at %v, want %s", got, AdminKubeconfig)
		}
		env := map[string]any{}
		for _, e := range dig(m, "spec", "containers", 0, "env").([]any) {
			env[dig(e, "name").(string)] = dig(e, "value")
		}
		for k, v := range map[string]any{"address": "10.0.0.100", "port": "6443", "vip_interface": "ens192", "vip_arp": "true", "cp_enable": "true", "vip_leaderelection": "true"} {
			if env[k] != v {
				t.Errorf("kube-vip env %s = %v, want %v", k, env[k], v)
			}
		}
	}
}

func TestImagesFor(t *testing.T) {
	i := DefaultImages()
	if got := i.For(ModeKeepalivedHAProxy); len(got) != 2 || got[0] != i.HAProxy || got[1] != i.Keepalived {
		t.Errorf("For(keepalived-haproxy) = %v", got)
	}
	if got := i.For(ModeKubeVIP); len(got) != 1 || got[0] != i.KubeVIP {
		t.Errorf("For(kube-vip) = %v", got)
	}
	for _, ref := range []string{i.HAProxy, i.Keepalived, i.KubeVIP} {
		if !imageRE.MatchString(ref) || !strings.Contains(ref, ":") {
			t.Errorf("default image %q is not a pinned reference", ref)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Params)
		field string
	}{
		{"no mode", func(p *Params) { p.Mode = "" }, "mode"},
		{"VIP not IPv4", func(p *Params) { p.VIP = "fd00::100" }, "vip"},
		{"bad interface", func(p *Params) { p.Interface = "eth0; reboot" }, "interface"},
		{"no peers", func(p *Params) { p.Peers = nil }, "peers"},
		{"self not a peer", func(p *Params) { p.Self = "cp-9" }, "self"},
		{"peer bad name", func(p *Params) { p.Peers = []Peer{{Name: "CP 1", Address: "10.0.0.11"}} }, "peers[0].name"},
		{"peer bad address", func(p *Params) { p.Peers = []Peer{{Name: "cp-1", Address: "10.0.0"}} }, "peers[0].address"},
		{"peer is the VIP", func(p *Params) { p.Peers = []Peer{{Name: "cp-1", Address: "10.0.0.100"}} }, "peers[0].address"},
		{"peer twice", func(p *Params) { p.Peers = append(p.Peers, peers[0]) }, "peers[3]"},
		{"router id", func(p *Params) { p.VirtualRouterID = 256 }, "virtualRouterID"},
		{"auth pass too long", func(p *Params) { p.AuthPass = "123456789" }, "authPass"},
		{"auth pass missing", func(p *Params) { p.AuthPass = "" }, "authPass"},
		{"port clash", func(p *Params) { p.Port = 6443 }, "port"},
		{"bad port", func(p *Params) { p.Port = 70000 }, "port"},
		{"bad image", func(p *Params) { p.Images.HAProxy = "haproxy latest" }, "images.haproxy"},
		{"no keepalived image", func(p *Params) { p.Images.Keepalived = "" }, "images.keepalived"},
	} {
		p := haParams("cp-1")
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
		{"kube-vip other port", func(p *Params) { p.Port = 8443 }, "port"},
		{"kube-vip other kubeconfig", func(p *Params) { p.Kubeconfig = "/root/.kube/config" }, "kubeconfig"},
		{"kube-vip no image", func(p *Params) { p.Images.KubeVIP = "" }, "images.kubeVIP"},
	} {
		p := kubeVIPParams("")
		tc.edit(&p)
		_, err := Render(p)
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Render error = %v, want ErrInvalidParams naming %q", tc.name, err, tc.field)
		}
	}
}

// needTool skips the test locally and fails it in CI, where the oracles are installed.
func lookTool(t *testing.T, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		reftest.Missing(t, "%s not installed (%s)", name, hint)
	}
	return path
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// writeRoot writes files under a fresh directory, as the agent writes them under the
// node's root.
func writeRoot(t *testing.T, files map[string]File) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		path := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestHAProxyAcceptsConfig: haproxy's own configuration check (Debian package haproxy).
func TestHAProxyAcceptsConfig(t *testing.T) {
	haproxy := lookTool(t, "haproxy", "apt-get install haproxy")
	root := writeRoot(t, render(t, haParams("cp-2")))
	out, err := run(t, haproxy, "-c", "-f", filepath.Join(root, "etc/haproxy/haproxy.cfg"))
	if err != nil {
		t.Fatalf("haproxy -c rejects haproxy.cfg: %v\n%s", err, out)
	}
	if strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("haproxy -c warns about haproxy.cfg:\n%s", out)
	}
}

// TestKeepalivedAcceptsConfig: keepalived's own configuration check (Debian package
// keepalived). The config names the script by its in-container path, so the test points it
// at the rendered copy.
func TestKeepalivedAcceptsConfig(t *testing.T) {
	keepalived := lookTool(t, "keepalived", "apt-get install keepalived")
	files := render(t, haParams("cp-2"))
	root := writeRoot(t, files)
	conf := filepath.Join(root, "etc/keepalived/keepalived.conf")
	data := strings.ReplaceAll(string(files["etc/keepalived/keepalived.conf"].Data),
		"/etc/keepalived/check_apiserver.sh", filepath.Join(root, "etc/keepalived/check_apiserver.sh"))
	if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, keepalived, "--config-test", "--use-file", conf)
	if err != nil {
		t.Fatalf("keepalived --config-test rejects keepalived.conf: %v\n%s", err, out)
	}
	// keepalived reports problems it can survive on stderr but still exits 0.
	if strings.TrimSpace(out) != "" {
		t.Errorf("keepalived --config-test reports:\n%s", out)
	}
}

// TestCheckScriptIsPOSIX: shellcheck as POSIX sh (the keepalived image's /bin/sh).
func TestCheckScriptIsPOSIX(t *testing.T) {
	shellcheck := lookTool(t, "shellcheck", "apt-get install shellcheck")
	root := writeRoot(t, render(t, haParams("cp-1")))
	out, err := run(t, shellcheck, "--shell=sh", filepath.Join(root, "etc/keepalived/check_apiserver.sh"))
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// TestStaticPodsValidate hands the manifests to manifestcheck, built by `make tools` from
// Kubernetes' own API machinery: strict decoding into core/v1 Pod, defaulting, the API
// server's pod validation and the kubelet's static pod rules.
func TestStaticPodsValidate(t *testing.T) {
	bin := manifestcheck(t)
	var paths []string
	for _, tc := range goldenCases {
		root := writeRoot(t, render(t, tc.p))
		for _, name := range []string{"haproxy.yaml", "keepalived.yaml", "kube-vip.yaml"} {
			path := filepath.Join(root, "etc/kubernetes/manifests", name)
			if _, err := os.Stat(path); err == nil {
				paths = append(paths, path)
			}
		}
	}
	if len(paths) != 2+2+1+1 {
		t.Fatalf("found %d manifests, want 6", len(paths))
	}
	out, err := run(t, bin, append([]string{"-static-pod"}, paths...)...)
	if err != nil {
		t.Fatalf("manifestcheck: %v\n%s", err, out)
	}
	if n := strings.Count(out, ": ok\n"); n != len(paths) {
		t.Errorf("manifestcheck passed %d of %d manifests:\n%s", n, len(paths), out)
	}
}

func manifestcheck(t *testing.T) string {
	t.Helper()
	return reftest.Built(t, "manifestcheck-v1.34.4")
}
