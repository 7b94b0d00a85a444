//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/builder/qemu"
	"github.com/kiln-build/kiln/firstboot/config"
)

// The cluster test's own bundle, when E2E_CLUSTER_DIR does not give one:
// one control plane and one worker on a /24 that exists only inside the
// test's network namespace.
const (
	clusterVIP     = "10.77.0.10"
	clusterGateway = "10.77.0.1"
	clusterM1      = "10.77.0.11"
	clusterW1      = "10.77.0.21"
	// clusterBudget bounds the whole boot, from power-on to both nodes done,
	// under software emulation on two host cores.
	clusterBudget = 50 * time.Minute
)

// clusterInputs are what `make e2e-cluster` prepared outside the test.
type clusterInputs struct {
	Version string // the Kubernetes version the fixture's packages and images are
	Kube    string // the multi-call binary: the host's kubectl
	Images  string // docker archives and their index.txt
	Profile string // the base profile the test extends with the images
}

func clusterEnv(t *testing.T, root string) clusterInputs {
	t.Helper()
	in := clusterInputs{
		Version: os.Getenv("E2E_KUBERNETES_VERSION"),
		Kube:    os.Getenv("E2E_KUBE"),
		Images:  os.Getenv("E2E_IMAGES"),
		Profile: filepath.Join(root, "test/e2e/cluster.yaml"),
	}
	if in.Version == "" || in.Kube == "" || in.Images == "" {
		t.Skip("E2E_KUBERNETES_VERSION, E2E_KUBE and E2E_IMAGES are unset: run `make e2e-cluster`")
	}
	return in
}

// TestCluster forms a real Kubernetes cluster from a kiln image and
// metadata alone: one control plane booted by UEFI and one worker booted by
// BIOS, on a bridge inside the test's own network namespace, with no
// registry and no network beyond the bridge. It passes when, seen from the
// host through the VIP with an admin kubeconfig from `kiln cluster
// kubeconfig`, both nodes are Ready, CoreDNS runs, a pod on the worker
// resolves kubernetes.default and reaches the API server through its
// service IP, no image was pulled, and each node's last KILN-STATUS is done.
func TestCluster(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-img", "mke2fs", "ip")
	root := repoRoot(t)
	in := clusterEnv(t, root)
	requirePrivateNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Minute)
	defer cancel()

	start := time.Now()
	bins, kubectlBin, out, img := clusterImage(t, ctx, root, "build/e2e-cluster", in)
	built := time.Since(start)
	t.Logf("image built in %s: %s", built.Round(time.Second), img.Raw)

	bundleDir := os.Getenv("E2E_CLUSTER_DIR")
	if bundleDir == "" {
		bundleDir = filepath.Join(out, "cluster")
		kiln(t, ctx, bins.Kiln, "cluster", "new", "--name", "e2e", "--kubernetes-version", in.Version, "--vip", clusterVIP,
			"--control-plane", "m1="+clusterM1, "--worker", "w1="+clusterW1, "--prefix", "24",
			"--gateway", clusterGateway, "--dns", clusterGateway,
			// Under software emulation the API server can take over 10
			// seconds to answer; with the default timings (15s/10s/2s) the
			// controller manager lost its lease every few minutes and its
			// endpoint-slice controller never synced, so kube-dns had no
			// endpoints. These are the timings for slow hosts.
			"--leader-election", "lease=137s,renew=107s,retry=26s",
			// Under load an API server missed kubeadm's probes (15 s
			// timeout, 8 liveness failures, 4 minutes to start) and was
			// restarted, and each restart starved etcd and the rest.
			"--probes", "timeout=60s,liveness=30,startup=90",
			"-o", bundleDir)
	}
	b, err := cluster.Load(bundleDir)
	if err != nil {
		t.Fatalf("E2E_CLUSTER_DIR: %v", err)
	}
	if b.Spec.KubernetesVersion != in.Version {
		t.Fatalf("the bundle in %s is for Kubernetes %s; this image holds %s (make -s e2e-cluster-version)", bundleDir, b.Spec.KubernetesVersion, in.Version)
	}
	cp, worker := pickNodes(t, b)
	hostAddr := bridgeAddress(t, b)
	nodes := []*vm{
		{name: cp.Name, address: cp.Address, firmware: qemu.UEFI, cpus: 2, memory: 3072, mac: "52:54:00:77:00:01"},
		{name: worker.Name, address: worker.Address, firmware: qemu.BIOS, cpus: 2, memory: 1536, mac: "52:54:00:77:00:02", nocloud: true, nice: 5},
	}
	setUpBridge(t, hostAddr, nodes)

	for _, n := range nodes {
		n.metadata = filepath.Join(out, n.name+".yaml")
		if err := os.WriteFile(n.metadata, []byte(kiln(t, ctx, bins.Kiln, "metadata", "--cluster", bundleDir, "--node", n.name)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(out, "admin.kubeconfig")
	kiln(t, ctx, bins.Kiln, "cluster", "kubeconfig", "--cluster", bundleDir, "--ttl", "2h", "-o", kubeconfig)
	kc := kubectl{bin: kubectlBin, kubeconfig: kubeconfig}
	endpoint := net.JoinHostPort(b.Spec.ControlPlaneEndpoint.VIP, fmt.Sprint(b.Spec.ControlPlaneEndpoint.Port))

	// Power on both; the worker's agent waits for the endpoint by itself.
	vmctx, stopVMs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopVMs(); wg.Wait() }()
	defer holdOnFailure(t, kubeconfig)
	poweredOn := time.Now()
	for _, n := range nodes {
		n.start(t, vmctx, &wg, img.Raw, out)
	}

	// Watch from the host: the API through the VIP, each node Ready, and
	// each agent's final status.
	timings := map[string]time.Duration{}
	deadline := time.Now().Add(clusterBudget)
	lastReadiness := ""
	for {
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Logf("%s: last status %s", n.name, n.lastStatus())
			}
			t.Logf("nodes as the API server reports them: %v", nodeReadiness(ctx, kc))
			t.Log(clusterDiagnostics(ctx, kc))
			for _, n := range nodes {
				t.Logf("%s: last console lines:\n%s", n.name, n.tail(60))
			}
			t.Fatalf("the cluster did not form within %s; consoles in %s", clusterBudget, out)
		}
		for _, n := range nodes {
			if s, ok := n.final(); ok && s.Phase == config.PhaseFailed {
				t.Fatalf("%s: KILN-STATUS failed: %s: %s\nlast console lines:\n%s", n.name, s.Message, s.Error, n.tail(40))
			}
			if n.exited() {
				t.Fatalf("%s: the machine stopped: %v\nlast console lines:\n%s", n.name, n.err, n.tail(40))
			}
		}
		if _, ok := timings["api"]; !ok {
			if _, err := kc.run(ctx, "get", "--raw", "/readyz"); err == nil {
				timings["api"] = time.Since(poweredOn)
				t.Logf("API server ready through %s after %s", endpoint, timings["api"].Round(time.Second))
			}
		}
		if _, ok := timings["api"]; ok {
			readiness := nodeReadiness(ctx, kc)
			if r := fmt.Sprint(readiness); r != lastReadiness {
				t.Logf("+%s nodes Ready (as the API server reports them): %s", time.Since(poweredOn).Round(time.Second), r)
				lastReadiness = r
			}
			for node, ready := range readiness {
				if _, seen := timings["ready "+node]; ready && !seen {
					timings["ready "+node] = time.Since(poweredOn)
					t.Logf("node %s Ready after %s", node, timings["ready "+node].Round(time.Second))
				}
			}
		}
		done := true
		for _, n := range nodes {
			if s, ok := n.final(); !ok || s.Phase != config.PhaseDone {
				done = false
			}
		}
		if done && len(timings) == 1+len(nodes) {
			break
		}
		// Every look is an API request through the VIP: on an emulated
		// control plane, fewer leave it more CPU.
		time.Sleep(10 * time.Second)
	}
	for _, n := range nodes {
		t.Logf("%s: %s", n.name, n.lastStatus())
	}

	t.Run("cluster-dns-serving", func(t *testing.T) {
		// Running pods are not a serving DNS: the kube-dns Service has a
		// ready endpoint only once the controller-manager's endpoint-slice
		// controller has seen a CoreDNS pod pass its readiness probe.
		defer func() {
			if t.Failed() {
				t.Log(clusterDiagnostics(ctx, kc))
			}
		}()
		waitFor(t, ctx, 15*time.Minute, "CoreDNS Running and a ready kube-dns endpoint", func() error {
			o, err := kc.run(ctx, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[*].status.phase}")
			if err != nil {
				return err
			}
			if ph := strings.Fields(o); len(ph) == 0 || strings.Count(o, "Running") != len(ph) {
				return fmt.Errorf("CoreDNS pods: %q", o)
			}
			o, err = kc.run(ctx, "-n", "kube-system", "get", "endpointslices", "-l", "kubernetes.io/service-name=kube-dns",
				"-o", `jsonpath={range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready}{" "}{end}`)
			if err != nil {
				return err
			}
			if !strings.Contains(o, "=true") {
				return fmt.Errorf("kube-dns endpoints: %q", o)
			}
			return nil
		})
	})
	t.Run("pod-on-worker-reaches-dns-and-api", func(t *testing.T) {
		probe := probeImage(t, in.Images)
		overrides := fmt.Sprintf(`{"spec":{"nodeName":%q}}`, worker.Name)
		// getent resolves through the pod's resolv.conf (CoreDNS); curl
		// reaches the API server through the kubernetes Service's cluster IP.
		// Each check is retried for two minutes: under software emulation
		// CoreDNS and the API server can be between restarts.
		script := `try() { i=0; until "$@"; do i=$((i+1)); [ $i -ge 24 ] && return 1; sleep 5; done; }; ` +
			`cat /etc/resolv.conf; ` +
			`try getent hosts kubernetes.default.svc || { echo "probe: kubernetes.default.svc does not resolve"; exit 1; }; ` +
			`try curl --silent --show-error --max-time 20 --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt https://kubernetes.default.svc/readyz || { echo "probe: the API server is not reachable through its service"; exit 1; }; ` +
			`echo; echo probe-ok`
		if _, err := kc.run(ctx, "run", "kiln-probe", "--image", probe, "--image-pull-policy", "Never", "--restart", "Never",
			"--overrides", overrides, "--command", "--", "sh", "-c", script); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, 10*time.Minute, "the probe pod to finish", func() error {
			o, err := kc.run(ctx, "get", "pod", "kiln-probe", "-o", "jsonpath={.status.phase}")
			if err != nil {
				return err
			}
			if o == "Failed" {
				logs, _ := kc.run(ctx, "logs", "kiln-probe")
				desc, _ := kc.run(ctx, "describe", "pod", "kiln-probe")
				t.Fatalf("the probe pod failed:\n%s\n%s\n%s", logs, desc, clusterDiagnostics(ctx, kc))
			}
			if o != "Succeeded" {
				return fmt.Errorf("phase %q", o)
			}
			return nil
		})
		logs, err := kc.run(ctx, "logs", "kiln-probe")
		if err != nil || !strings.Contains(logs, "probe-ok") || !strings.Contains(logs, "ok") {
			t.Fatalf("probe logs: %v\n%s", err, logs)
		}
		t.Logf("probe pod on %s:\n%s", worker.Name, logs)
	})
	t.Run("nothing-pulled", func(t *testing.T) {
		o, err := kc.run(ctx, "get", "events", "--all-namespaces", "--field-selector", "reason=Pulling", "-o", "name")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(o) != "" {
			t.Errorf("the kubelets pulled images (every image should have been preloaded):\n%s", o)
		}
	})

	// Timings: what the host saw, and what the agents reported.
	t.Logf("timing: kiln lock + build: %s", built.Round(time.Second))
	t.Logf("timing: power-on to API ready through the VIP: %s", timings["api"].Round(time.Second))
	for _, n := range nodes {
		t.Logf("timing: power-on to node %s Ready: %s", n.name, timings["ready "+n.name].Round(time.Second))
		for _, l := range n.phaseTimes() {
			t.Logf("timing: %s: %s", n.name, l)
		}
	}
	o, err := kc.run(ctx, "get", "nodes", "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl get nodes -o wide:\n%s", o)
}

// holdOnFailure keeps a failed cluster running for E2E_HOLD (a Go
// duration) so that a person can look at it with kubectl from the test's
// network namespace before the machines are stopped.
func holdOnFailure(t *testing.T, kubeconfig string) {
	d, err := time.ParseDuration(os.Getenv("E2E_HOLD"))
	if err != nil || d <= 0 || !t.Failed() {
		return
	}
	t.Logf("holding the failed cluster for %s: nsenter --net=/proc/%d/ns/net kubectl --kubeconfig %s ...", d, os.Getpid(), kubeconfig)
	time.Sleep(d)
}

// clusterDiagnostics is what a person debugging a failed network check
// looks at first: where the pods run, the DNS service's endpoints, and the
// logs of kube-proxy and flannel.
func clusterDiagnostics(ctx context.Context, kc kubectl) string {
	var b strings.Builder
	show := func(args ...string) {
		o, err := kc.run(ctx, args...)
		fmt.Fprintf(&b, "$ kubectl %s\n%s", strings.Join(args, " "), o)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	show("get", "pods", "--all-namespaces", "-o", "wide")
	show("-n", "kube-system", "get", "endpointslices", "-o", "wide")
	show("-n", "kube-system", "logs", "-l", "k8s-app=kube-proxy", "--tail", "30", "--prefix")
	show("-n", "kube-flannel", "logs", "-l", "k8s-app=flannel", "--tail", "30", "--prefix")
	show("-n", "kube-system", "logs", "-l", "k8s-app=kube-dns", "--tail", "30", "--prefix")
	// Restarts of these leave Services without endpoints and pods unplaced.
	for _, c := range []string{"kube-controller-manager", "kube-scheduler"} {
		show("-n", "kube-system", "logs", "-l", "component="+c, "--tail", "40", "--prefix")
		show("-n", "kube-system", "logs", "-l", "component="+c, "--tail", "40", "--prefix", "--previous")
	}
	return b.String()
}

// requirePrivateNetns refuses to run where the test's bridge and guests
// could reach a real network: the test must start in a network namespace
// of its own that holds nothing but loopback (make e2e-cluster runs it
// under `unshare --net`).
func requirePrivateNetns(t *testing.T) {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name != "lo" && !strings.HasPrefix(i.Name, "kiln-") {
			t.Fatalf("interface %s is here: the cluster test runs only in a network namespace of its own (make e2e-cluster runs it under unshare --net)", i.Name)
		}
	}
	run(t, "ip", "link", "set", "lo", "up")
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// setUpBridge makes the node network: a bridge holding the host's address
// and one tap per node.
func setUpBridge(t *testing.T, host netip.Prefix, nodes []*vm) {
	t.Helper()
	run(t, "ip", "link", "add", "kiln-br0", "type", "bridge")
	run(t, "ip", "addr", "add", host.String(), "dev", "kiln-br0")
	run(t, "ip", "link", "set", "kiln-br0", "up")
	for i, n := range nodes {
		n.tap = fmt.Sprintf("kiln-tap%d", i)
		run(t, "ip", "tuntap", "add", n.tap, "mode", "tap")
		run(t, "ip", "link", "set", n.tap, "master", "kiln-br0")
		run(t, "ip", "link", "set", n.tap, "up")
	}
}

// pickNodes takes the bundle's first control plane (it runs kubeadm init)
// and its first worker.
func pickNodes(t *testing.T, b *cluster.Bundle) (cp, worker cluster.Node) {
	t.Helper()
	for _, n := range b.Spec.Nodes() {
		switch {
		case n.Role == config.RoleControlPlane && cp.Name == "":
			cp = n
		case n.Role == config.RoleWorker && worker.Name == "":
			worker = n
		}
	}
	if cp.Name == "" || worker.Name == "" {
		t.Fatal("the cluster bundle needs a control plane and a worker")
	}
	if b.Spec.NodeNetwork.PrefixLength == 0 {
		t.Fatal("the cluster bundle uses DHCP; the cluster test needs static node addresses (kiln cluster new --prefix)")
	}
	return cp, worker
}

// bridgeAddress is the host's address on the node network: the bundle's
// gateway, or else the highest address of the subnet no node or VIP uses.
func bridgeAddress(t *testing.T, b *cluster.Bundle) netip.Prefix {
	t.Helper()
	bits := b.Spec.NodeNetwork.PrefixLength
	if gw := b.Spec.NodeNetwork.Gateway; gw != "" {
		return netip.PrefixFrom(netip.MustParseAddr(gw), bits)
	}
	used := map[netip.Addr]bool{netip.MustParseAddr(b.Spec.ControlPlaneEndpoint.VIP): true}
	for _, n := range b.Spec.Nodes() {
		used[netip.MustParseAddr(n.Address)] = true
	}
	subnet := netip.PrefixFrom(netip.MustParseAddr(b.Spec.Nodes()[0].Address), bits).Masked()
	last := subnet.Addr()
	for a := subnet.Addr().Next(); subnet.Contains(a); a = a.Next() {
		if subnet.Contains(a.Next()) && !used[a] {
			last = a // the broadcast address is the last one; stop before it
		}
	}
	return netip.PrefixFrom(last, bits)
}

// writeImagesProfile writes a profile that extends the base profile with
// every archive in the images index (ref, file, digest per line).
func writeImagesProfile(t *testing.T, path string, in clusterInputs) {
	t.Helper()
	idx, err := os.ReadFile(filepath.Join(in.Images, "index.txt"))
	if err != nil {
		t.Fatalf("E2E_IMAGES: %v", err)
	}
	var b, overrides strings.Builder
	fmt.Fprintf(&b, "apiVersion: kiln/v1\nkind: Profile\nname: kiln-cluster\nextends: %s\nimages:\n", in.Profile)
	for _, l := range strings.Split(strings.TrimSpace(string(idx)), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("%s/index.txt: %q is not REF FILE [DIGEST]", in.Images, l)
		}
		fmt.Fprintf(&b, "  - ref: %s\n    archive: %s\n", f[0], filepath.Join(in.Images, f[1]))
		// The load balancer's images are made from Debian's packages and
		// named as such; the profile says to run them.
		for _, name := range []string{"haproxy", "keepalived"} {
			if strings.Contains(f[0], "/"+name+":") {
				fmt.Fprintf(&overrides, "    %s: %s\n", name, f[0])
			}
		}
	}
	fmt.Fprintf(&b, "kubernetes:\n  loadBalancers: [keepalived-haproxy]\n  cni: [flannel]\n  images:\n%s", overrides.String())
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// probeImage is the preloaded image the probe pod runs: one with a shell,
// getent and curl.
func probeImage(t *testing.T, images string) string {
	t.Helper()
	idx, _ := os.ReadFile(filepath.Join(images, "index.txt"))
	for _, l := range strings.Split(string(idx), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(f[0], "/toolbox:") {
			return f[0]
		}
	}
	t.Fatalf("%s/index.txt has no toolbox image for the probe pod", images)
	return ""
}

type kubectl struct{ bin, kubeconfig string }

func (k kubectl) run(ctx context.Context, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--request-timeout", "20s"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// nodeReadiness maps each node to whether its kubelet reports Ready.
func nodeReadiness(ctx context.Context, kc kubectl) map[string]bool {
	o, err := kc.run(ctx, "get", "nodes", "-o", "json")
	if err != nil {
		return nil
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if json.Unmarshal([]byte(o), &list) != nil {
		return nil
	}
	m := map[string]bool{}
	for _, it := range list.Items {
		for _, c := range it.Status.Conditions {
			if c.Type == "Ready" {
				m[it.Metadata.Name] = c.Status == "True"
			}
		}
	}
	return m
}

func waitFor(t *testing.T, ctx context.Context, bound time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(5 * time.Second)
	}
}

// vm is one node's machine and what its console said.
type vm struct {
	name, address, tap, mac, metadata string
	firmware                          qemu.Firmware
	cpus, memory                      int
	nocloud                           bool
	// nice lowers the machine's share of the host's CPU: under software
	// emulation a worker competes with the control plane for the same
	// two cores, and a starved API server fails its own start-up
	// (a post-start hook gives up after 30 s) and never comes back.
	nice int

	// logf shows each status as it comes.
	logf func(format string, args ...any)

	mu       sync.Mutex
	started  time.Time
	statuses []seenStatus
	lines    []string
	stopped  bool
	err      error
}

type seenStatus struct {
	at time.Duration // since power-on, by the host's clock
	s  config.Status
}

func (n *vm) start(t *testing.T, ctx context.Context, wg *sync.WaitGroup, image, out string) {
	t.Helper()
	f, err := os.Create(filepath.Join(out, n.name+".console"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	o := qemu.Options{Image: image, Firmware: n.firmware, Metadata: n.metadata, NoCloud: n.nocloud,
		MemoryMiB: n.memory, CPUs: n.cpus, Tap: n.tap, MAC: n.mac, DiskSize: 10 << 30,
		Accel: qemu.AccelTCG, Serial: io.MultiWriter(f, pw), WorkDir: filepath.Join(out, n.name+".work")}
	if a := os.Getenv("KILN_E2E_ACCEL"); a != "" {
		o.Accel = qemu.Accel(a)
	}
	if n.nice != 0 {
		o.QEMU = niceQEMU(t, out, n.nice)
	}
	os.MkdirAll(o.WorkDir, 0o755)
	n.started = time.Now()
	n.logf = t.Logf
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.line(qemu.CleanLine(sc.Text()))
		}
	}()
	go func() {
		defer wg.Done()
		_, err := qemu.Run(ctx, o)
		pw.Close()
		f.Close()
		n.mu.Lock()
		n.stopped, n.err = ctx.Err() == nil, err
		n.mu.Unlock()
	}()
}

func (n *vm) line(l string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, l)
	if len(n.lines) > 400 {
		n.lines = n.lines[len(n.lines)-200:]
	}
	i := strings.Index(l, "KILN-STATUS ")
	if i < 0 {
		return
	}
	var s config.Status
	if json.Unmarshal([]byte(l[i+len("KILN-STATUS "):]), &s) == nil {
		at := time.Since(n.started)
		n.statuses = append(n.statuses, seenStatus{at: at, s: s})
		if n.logf != nil {
			n.logf("%s +%s KILN-STATUS %s: %s %s", n.name, at.Round(time.Second), s.Phase, s.Message, s.Error)
		}
	}
}

func (n *vm) final() (config.Status, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.statuses) == 0 {
		return config.Status{}, false
	}
	s := n.statuses[len(n.statuses)-1].s
	return s, s.Phase == config.PhaseDone || s.Phase == config.PhaseFailed
}

func (n *vm) lastStatus() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.statuses) == 0 {
		return "(none yet)"
	}
	s := n.statuses[len(n.statuses)-1]
	return fmt.Sprintf("%s after %s: %s", s.s.Phase, s.at.Round(time.Second), s.s.Message)
}

func (n *vm) exited() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopped
}

func (n *vm) tail(k int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.lines
	if len(l) > k {
		l = l[len(l)-k:]
	}
	return strings.Join(l, "\n")
}

// phaseTimes says, for each status the agent reported, when the host saw it
// and how long until the next: the image import is the status that says so.
func (n *vm) phaseTimes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for i, s := range n.statuses {
		took := ""
		if i+1 < len(n.statuses) {
			took = fmt.Sprintf(" (%s)", (n.statuses[i+1].at - s.at).Round(time.Second))
		}
		out = append(out, fmt.Sprintf("%7s %-13s %s%s", s.at.Round(time.Second), s.s.Phase, s.s.Message, took))
	}
	return out
}

// niceQEMU writes a wrapper that runs QEMU at the given niceness (every
// thread QEMU starts inherits it).
func niceQEMU(t *testing.T, dir string, nice int) string {
	t.Helper()
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("qemu-nice%d", nice))
	script := fmt.Sprintf("#!/bin/sh\nexec nice -n %d %s \"$@\"\n", nice, bin)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// clusterImage prepares a cluster test's work directory (under root, a
// fresh out/ inside it), kiln's binaries, kubectl (the multi-call binary)
// and the node image: the base profile plus the images make e2e-cluster
// built, locked and built with the CLI.
func clusterImage(t *testing.T, ctx context.Context, root, workDir string, in clusterInputs) (bins binaries, kubectlBin, out string, img assembled) {
	t.Helper()
	work := filepath.Join(root, workDir)
	out = filepath.Join(work, "out")
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bins = buildBinaries(t, root, filepath.Join(work, "bin"))
	kubectlBin = filepath.Join(work, "bin", "kubectl")
	os.Remove(kubectlBin)
	if err := os.Symlink(in.Kube, kubectlBin); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(out, "cluster-images.yaml")
	writeImagesProfile(t, profile, in)
	return bins, kubectlBin, out, buildWithCLI(t, ctx, bins, profile, out)
}
