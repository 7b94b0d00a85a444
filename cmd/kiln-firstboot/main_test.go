package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

var update = flag.Bool("update", false, "rewrite testdata/dry-run")

// kubernetesVersion is one `make tools` builds a kubeadm for, so the
// configurations the dry run writes can be checked by kubeadm itself.
const kubernetesVersion = "v1.34.4"

// bundle is the default topology (three control planes and two workers
// behind keepalived + haproxy on VIP:8443, flannel), made with
// builder/cluster, with the fixed test keys of firstboot/config/testdata/pki
// and a fixed token so that the output is the same every run.
func bundle(t *testing.T) *cluster.Bundle {
	t.Helper()
	b, err := cluster.New(cluster.Options{
		Name: "prod", KubernetesVersion: kubernetesVersion, VIP: "10.31.100.100", DNSName: "k8s-api.prod.example.com",
		NTPServers: []string{"10.31.0.1"},
		ControlPlanes: []config.Peer{
			{Name: "m1", Address: "10.31.100.61"}, {Name: "m2", Address: "10.31.100.62"}, {Name: "m3", Address: "10.31.100.63"},
		},
		Workers:        []config.Peer{{Name: "w1", Address: "10.31.100.101"}, {Name: "w2", Address: "10.31.100.102"}},
		NodeNetwork:    cluster.NodeNetwork{Interface: "ens192", PrefixLength: 24, Gateway: "10.31.100.1", DNS: []string{"10.31.0.53"}},
		LeaderElection: &config.LeaderElection{LeaseDuration: "137s", RenewDeadline: "107s", RetryPeriod: "26s"},
		Probes:         &config.Probes{TimeoutSeconds: 60, LivenessFailureThreshold: 30, StartupFailureThreshold: 90},
	})
	if err != nil {
		t.Fatal(err)
	}
	pki := func(name string) string {
		data, err := os.ReadFile("../../firstboot/config/testdata/pki/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	b.Token = "abcdef.0123456789abcdef"
	b.KubernetesCA = config.CertKey{Cert: pki("ca.crt"), Key: pki("ca.key")}
	b.FrontProxyCA = config.CertKey{Cert: pki("front-proxy-ca.crt"), Key: pki("front-proxy-ca.key")}
	b.EtcdCA = config.CertKey{Cert: pki("etcd-ca.crt"), Key: pki("etcd-ca.key")}
	b.ServiceAccount = config.KeyPair{PublicKey: pki("sa.pub"), PrivateKey: pki("sa.key")}
	ca, err := config.ParseCertificatePEM(b.KubernetesCA.Cert)
	if err != nil {
		t.Fatal(err)
	}
	b.Spec.CACertHash = config.CACertHash(ca)
	return b
}

// image is what a kiln EL9 image holds that the plan looks at.
var image = map[string]string{
	"etc/os-release":                  "NAME=\"CentOS Stream\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n",
	"etc/fstab":                       "UUID=0b1e7c6e / xfs defaults 0 0\n/dev/mapper/cs-swap none swap defaults 0 0\n",
	"etc/chrony.conf":                 "pool 2.centos.pool.ntp.org iburst\ndriftfile /var/lib/chrony/drift\nmakestep 1.0 3\nrtcsync\n",
	"etc/selinux/config":              "SELINUX=permissive\nSELINUXTYPE=targeted\n",
	"etc/hosts":                       "127.0.0.1   localhost localhost.localdomain\n::1         localhost localhost.localdomain\n",
	"sys/fs/selinux/enforce":          "0",
	"usr/sbin/setenforce":             "",
	"usr/sbin/NetworkManager":         "",
	"usr/bin/firewall-offline-cmd":    "",
	"var/lib/kiln/images/flannel.tar": "",
	"var/lib/kiln/images/haproxy.tar": "",
}

func seedImage(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range image {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dumpWritten renders every file the run wrote or changed under root,
// sorted. Large or secret files are shown by digest (their contents are
// checked elsewhere).
func dumpWritten(t *testing.T, root string) []byte {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	var b bytes.Buffer
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		data, _ := os.ReadFile(p)
		if seed, ok := image[rel]; ok && seed == string(data) {
			continue
		}
		fi, _ := os.Stat(p)
		if strings.HasPrefix(rel, "etc/kubernetes/pki/") || rel == "etc/kiln/cni.yaml" {
			fmt.Fprintf(&b, "== /%s (%#o) sha256:%x\n", rel, fi.Mode().Perm(), sha256.Sum256(data))
			continue
		}
		fmt.Fprintf(&b, "== /%s (%#o)\n%s", rel, fi.Mode().Perm(), data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestDryRunDefaultTopology(t *testing.T) {
	b := bundle(t)
	for _, name := range []string{"m1", "m2", "w1"} {
		t.Run(name, func(t *testing.T) {
			nc, err := b.NodeConfig(name)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := config.MarshalYAML(nc)
			if err != nil {
				t.Fatal(err)
			}
			meta := filepath.Join(t.TempDir(), name+".yaml")
			if err := os.WriteFile(meta, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			root := seedImage(t)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"--dry-run", "--root", root, "--metadata-file", meta}, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("a dry run logged:\n%s", stderr.String())
			}
			plan := strings.ReplaceAll(stdout.String(), root, "ROOT")
			golden(t, filepath.Join("testdata", "dry-run", name+".plan"), []byte(plan))
			golden(t, filepath.Join("testdata", "dry-run", name+".files"), dumpWritten(t, root))

			// A dry run leaves no state: the real first boot starts afresh.
			for _, p := range []string{"var/lib/kiln/state.json", "var/lib/kiln/status.json", "var/lib/kiln/done"} {
				if _, err := os.Stat(filepath.Join(root, p)); err == nil {
					t.Errorf("a dry run wrote /%s", p)
				}
			}
			// Control planes carry the bundle's CAs, workers none.
			ca, err := os.ReadFile(filepath.Join(root, "etc/kubernetes/pki/ca.key"))
			if nc.Node.Role == config.RoleControlPlane && (err != nil || string(ca) != b.KubernetesCA.Key) {
				t.Errorf("%s: pki/ca.key is not the bundle's CA key (%v)", name, err)
			}
			if nc.Node.Role == config.RoleWorker && err == nil {
				t.Errorf("%s: a worker got pki/ca.key", name)
			}
			// The join credential is spent (removed) once kubeadm join ran.
			if _, err := os.Stat(filepath.Join(root, "etc/kubernetes/kiln-join.conf")); err == nil {
				t.Errorf("%s: the join kubeconfig is still on the node", name)
			}
			validateWithKubeadm(t, joinFileHere(t, nc, filepath.Join(root, "etc/kubernetes/kubeadm-config.yaml")))
		})
	}
}

// joinFileHere returns cfg, or for a join a copy of it whose discovery.file
// is a kubeconfig on this host with the node's credential: kubeadm checks
// the file exists when it validates the configuration.
func joinFileHere(t *testing.T, nc *config.NodeConfig, cfg string) string {
	t.Helper()
	data, err := os.ReadFile(cfg)
	if err != nil || !bytes.Contains(data, []byte("kubeConfigPath: /etc/kubernetes/kiln-join.conf")) {
		return cfg
	}
	s := nc.Cluster.Secrets
	cred := credential.Credential{}
	if s.NodeCredential != nil {
		cred.Cert, cred.Key = s.NodeCredential.Cert, s.NodeCredential.Key
	} else if cred, err = credential.Mint(s.KubernetesCA.Cert, s.KubernetesCA.Key, nc.Node.Name, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	kc, err := credential.Kubeconfig("https://10.31.100.100:8443", nc.Cluster.Name, s.KubernetesCA.Cert, cred, nc.Node.Name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kiln-join.conf"), kc, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "kubeadm-config.yaml")
	data = bytes.ReplaceAll(data, []byte("/etc/kubernetes/kiln-join.conf"), []byte(filepath.Join(dir, "kiln-join.conf")))
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// validateWithKubeadm hands the configuration to a real kubeadm, built by
// `make tools` into build/tools (or found in $KILN_KUBEADM_DIR).
func validateWithKubeadm(t *testing.T, cfg string) {
	t.Helper()
	bin, err := reftest.FindBuilt("kubeadm-" + kubernetesVersion)
	if err != nil {
		if reftest.InCI() {
			t.Fatalf("kubeadm %s not built: %v", kubernetesVersion, err)
		}
		t.Logf("kubeadm %s not built (run `make tools`): not validating %s", kubernetesVersion, cfg)
		return
	}
	out, err := exec.Command(bin, "config", "validate", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Errorf("kubeadm config validate: %v\n%s", err, out)
	}
}

func TestInvalidMetadata(t *testing.T) {
	b := bundle(t)
	nc, err := b.NodeConfig("w2")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := config.MarshalYAML(nc)
	doc = bytes.Replace(doc, []byte("podSubnet: 10.244.0.0/16"), []byte("podSubnet: 10.244.0.0/33"), 1)
	meta := filepath.Join(t.TempDir(), "w2.yaml")
	os.WriteFile(meta, doc, 0o600)
	root := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--root", root, "--metadata-file", meta}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "kiln-firstboot: metadata: ") || !strings.Contains(last, "cluster.networking.podSubnet") {
		t.Errorf("last stderr line %q, want the metadata failure naming cluster.networking.podSubnet", last)
	}
	var final config.Status
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		s, ok, err := config.ParseStatusLine(l)
		if !ok || err != nil {
			t.Fatalf("stdout line %q is not a status line", l)
		}
		final = s
	}
	if final.Phase != config.PhaseFailed || !strings.Contains(final.Error, "cluster.networking.podSubnet") {
		t.Errorf("final status %+v, want failed naming the field", final)
	}
	data, err := os.ReadFile(filepath.Join(root, "var/lib/kiln/status.json"))
	if err != nil || !bytes.Contains(data, []byte(`"phase":"failed"`)) {
		t.Errorf("status.json: %s (%v)", data, err)
	}
}

func TestFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "kiln-firstboot ") {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--metadata-file", "x", "--platform", "vmware"}, {"--platform", "openstack"}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	// No metadata anywhere: one clear line, exit 1.
	stderr.Reset()
	if code := run(context.Background(), []string{"--root", t.TempDir()}, &stdout, &stderr); code != 1 || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("no metadata: exit %d, stderr %q", code, stderr.String())
	}
}

// kube-vip on 1.29+: the bootstrap node's kube-vip uses super-admin.conf
// while kubeadm init runs, then admin.conf; a joining control plane uses
// admin.conf throughout.
func TestDryRunKubeVIP(t *testing.T) {
	b := bundle(t)
	b.Spec.LoadBalancer = config.LoadBalancer{Mode: config.LBKubeVIP, Interface: "ens192"}
	b.Spec.ControlPlaneEndpoint.Port = 6443
	for _, tc := range []struct {
		node, step string
	}{{"m1", "[init] kube-vip-admin: switching kube-vip from super-admin.conf to admin.conf\n  write /etc/kubernetes/manifests/kube-vip.yaml (0600)\n"}, {"m2", ""}} {
		nc, err := b.NodeConfig(tc.node)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := config.MarshalYAML(nc)
		meta := filepath.Join(t.TempDir(), "m.yaml")
		os.WriteFile(meta, doc, 0o600)
		root := seedImage(t)
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"--dry-run", "--root", root, "--metadata-file", meta}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.node, code, stderr.String())
		}
		plan := stdout.String()
		if tc.step != "" && !strings.Contains(plan, tc.step) {
			t.Errorf("%s: the plan lacks %q:\n%s", tc.node, tc.step, plan)
		}
		if tc.step == "" && strings.Contains(plan, "kube-vip-admin") {
			t.Errorf("%s: a joining control plane switches kubeconfig", tc.node)
		}
		if strings.Contains(plan, "haproxy.cfg") || strings.Contains(plan, "vrrp") {
			t.Errorf("%s: kube-vip plan mentions haproxy or VRRP:\n%s", tc.node, plan)
		}
		pod, err := os.ReadFile(filepath.Join(root, "etc/kubernetes/manifests/kube-vip.yaml"))
		if err != nil || !strings.Contains(string(pod), "path: /etc/kubernetes/admin.conf") {
			t.Errorf("%s: kube-vip.yaml does not end on admin.conf (%v):\n%s", tc.node, err, pod)
		}
		validateWithKubeadm(t, joinFileHere(t, nc, filepath.Join(root, "etc/kubernetes/kubeadm-config.yaml")))
	}
}

// Without flags the platform is detected: here, the metadata file the
// image carries under the root.
func TestDetectsTheMetadataFile(t *testing.T) {
	b := bundle(t)
	nc, err := b.NodeConfig("w2")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := config.MarshalYAML(nc)
	root := seedImage(t)
	os.MkdirAll(filepath.Join(root, "etc/kiln"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/kiln/metadata.yaml"), doc, 0o600)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--dry-run", "--root", root}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "platform file;") || !strings.Contains(stdout.String(), "[done] dry run: nothing was run; node w2 would be a worker") {
		t.Errorf("plan:\n%s", stdout.String())
	}
}
