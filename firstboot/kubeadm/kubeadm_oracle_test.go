package kubeadm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

// These tests hand what Render writes to a real kubeadm, built from the Go module proxy by
// `make tools` (test/tools/kubeadm/build.sh) into build/tools/kubeadm-VERSION, or found in
// $KILN_KUBEADM_DIR.

func kubeadmBinary(t *testing.T, version string) string {
	t.Helper()
	return reftest.Built(t, "kubeadm-"+version)
}

// isolation returns a command prefix that runs kubeadm with a private, empty /etc, so a dry
// run's scratch files (kubeadm 1.30 always writes them under /etc/kubernetes/tmp) never land
// on the host. It needs unshare(1) and either user namespaces or root; nil when neither works.
func isolation() []string {
	wrap := `mount -t tmpfs tmpfs /etc && exec "$0" "$@"`
	for _, flags := range [][]string{{"--map-root-user", "--mount"}, {"--mount"}} {
		args := append(append([]string{"unshare"}, flags...), "sh", "-c", wrap, "true")
		if exec.Command(args[0], args[1:]...).Run() == nil {
			return append(append([]string{"unshare"}, flags...), "sh", "-c", wrap)
		}
	}
	return nil
}

// kubeadm runs bin with args (and a private /etc when the dry-run directory cannot be moved
// otherwise), returning the combined output.
func kubeadm(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmdline := append([]string{bin}, args...)
	env := os.Environ()
	if len(args) > 0 && strings.Contains(strings.Join(args, " "), "--dry-run") {
		// kubeadm 1.32+ honours these; older ones need the private /etc.
		scratch := t.TempDir()
		env = append(env, "KUBEADM_INIT_DRYRUN_DIR="+scratch, "KUBEADM_JOIN_DRYRUN_DIR="+scratch)
		if prefix := isolation(); prefix != nil {
			cmdline = append(prefix, cmdline...)
		} else if strings.HasSuffix(bin, "v1.30.14") {
			reftest.Missing(t, "kubeadm 1.30 --dry-run writes under /etc/kubernetes: need unshare with user namespaces or root")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func writeConfig(t *testing.T, p Params) string {
	t.Helper()
	cfg, err := Render(p)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	path := filepath.Join(t.TempDir(), "kubeadm.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKubeadmConfigValidate: `kubeadm config validate` strictly decodes every document
// (unknown or misplaced fields fail) and runs kubeadm's own validation, per version and role.
func TestKubeadmConfigValidate(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		bin := kubeadmBinary(t, version)
		for _, role := range roles {
			t.Run(version+"/"+string(role), func(t *testing.T) {
				out, err := kubeadm(t, bin, "config", "validate", "--config", writeConfig(t, cluster(version, role)))
				if err != nil {
					t.Fatalf("kubeadm %s config validate: %v\n%s", version, err, out)
				}
			})
		}
	}
}

// TestKubeadmRejectsOtherAPIVersion checks the oracle can fail: kubeadm 1.30 does not
// accept the v1beta4 documents written for 1.34.
func TestKubeadmRejectsOtherAPIVersion(t *testing.T) {
	bin := kubeadmBinary(t, v1beta3Version)
	out, err := kubeadm(t, bin, "config", "validate", "--config", writeConfig(t, cluster(v1beta4Version, RoleInit)))
	if err == nil {
		t.Fatalf("kubeadm %s accepted a v1beta4 configuration:\n%s", v1beta3Version, out)
	}
}

// TestKubeadmInitDryRun runs the whole `kubeadm init` flow without touching the host:
// certificates, kubeconfigs, static pod manifests, and uploads to a fake API server.
// Preflight failures are expected here (no container runtime, no kubelet) and ignored.
func TestKubeadmInitDryRun(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			bin := kubeadmBinary(t, version)
			out, err := kubeadm(t, bin, "init", "--dry-run", "--ignore-preflight-errors=all",
				"--config", writeConfig(t, cluster(version, RoleInit)))
			if err != nil {
				t.Fatalf("kubeadm %s init --dry-run: %v\n%s", version, err, out)
			}
			for _, want := range []string{
				"[init] Using Kubernetes version: " + version,
				"IPs [10.96.0.1 10.0.0.11 10.0.0.100 10.0.0.12 10.0.0.13]", // apiserver cert: VIP and peers
				"--node-labels=kiln.dev/pool=control-plane,topology.kubernetes.io/zone=site-a",
				"--max-pods=150",
				"cgroupDriver: systemd",
				"mode: ipvs",
				"- --service-cluster-ip-range=10.96.0.0/12",
				"- --cluster-cidr=10.244.0.0/16",
				"- --leader-elect-lease-duration=2m17s", // controller manager and scheduler
				"- --leader-elect-retry-period=26s",
				"kubeadm join 10.0.0.100:8443 --token abcdef.0123456789abcdef",
				"has initialized successfully",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("kubeadm %s init --dry-run output lacks %q", version, want)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// TestKubeadmJoinDryRun: kubeadm 1.34 dry-runs a join against its built-in fake cluster. The
// token must not have kubeadm's dry-run token ID (abcdef), so that kubeadm substitutes its
// fake discovery data. kubeadm 1.30 has no fake cluster for joins: its join dry run needs a
// reachable API server, so 1.30 joins are covered by config validate only.
func TestKubeadmJoinDryRun(t *testing.T) {
	bin := kubeadmBinary(t, v1beta4Version)
	for _, role := range []Role{RoleJoinControlPlane, RoleJoinWorker} {
		t.Run(string(role), func(t *testing.T) {
			t.Parallel() // each waits out kubeadm's 5 s discovery retry
			p := cluster(v1beta4Version, role)
			p.BootstrapToken = "kiln01.0123456789abcdef"
			p.DiscoveryTimeout = 30 * time.Second
			out, err := kubeadm(t, bin, "join", "--dry-run", "--ignore-preflight-errors=all", "--config", writeConfig(t, p))
			if err != nil {
				t.Fatalf("kubeadm join --dry-run: %v\n%s", err, out)
			}
			wants := []string{"--max-pods=150", "This node has joined the cluster"}
			if role == RoleJoinControlPlane {
				wants = append(wants, `Creating static Pod manifest for "kube-apiserver"`,
					"etcd/server serving cert is signed for DNS names [cp-2 localhost] and IPs [10.0.0.12 127.0.0.1 ::1]")
			} else {
				wants = append(wants, "--node-labels=topology.kubernetes.io/zone=site-b", "--register-with-taints=kiln.dev/dedicated=batch:NoSchedule")
			}
			for _, want := range wants {
				if !strings.Contains(out, want) {
					t.Errorf("kubeadm join --dry-run output lacks %q", want)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// TestKubeadmListsTheOverriddenImages: with the etcd and CoreDNS images and the image
// repository the image build chose, kubeadm asks for exactly those references (what the
// build preloaded), per API version.
func TestKubeadmListsTheOverriddenImages(t *testing.T) {
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		bin := kubeadmBinary(t, version)
		t.Run(version, func(t *testing.T) {
			p := cluster(version, RoleInit)
			p.ImageRepository = "kiln.test/k8s"
			p.EtcdImage = ImageMeta{Repository: "kiln.test/etcd-mirror", Tag: "3.6.5-0"}
			p.DNSImage = ImageMeta{Repository: "registry.k8s.io/coredns", Tag: "v1.12.4"}
			out, err := kubeadm(t, bin, "config", "images", "list", "--config", writeConfig(t, p))
			if err != nil {
				t.Fatalf("kubeadm %s config images list: %v\n%s", version, err, out)
			}
			for _, want := range []string{"kiln.test/k8s/kube-apiserver:" + version, "kiln.test/k8s/pause:",
				"kiln.test/etcd-mirror/etcd:3.6.5-0", "registry.k8s.io/coredns/coredns:v1.12.4"} {
				if !strings.Contains(out, want) {
					t.Errorf("kubeadm lists:\n%s\nwant %s", out, want)
				}
			}
		})
	}
}
