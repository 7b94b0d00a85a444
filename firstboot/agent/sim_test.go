package agent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

// fakeCluster behaves, to the agents, as kubeadm, kubectl and the network
// do: init happens once; joins need the endpoint up, refuse to run over
// the leftovers of a failed join (kubeadm's preflight) until kubeadm reset
// -f, and etcd refuses a control plane while another member is being
// added.
type fakeCluster struct {
	mu          sync.Mutex
	version     string
	token       string
	ca          string // the Kubernetes CA certificate, which join credentials must chain to
	endpoint    string // VIP:port
	vipUp       bool
	initialized bool
	initRuns    int // kubeadm init invocations that got as far as the control plane
	initCalls   int // every kubeadm init invocation
	members     []string
	adding      string
	joined      map[string]bool
	cniApplied  bool
	nodes       map[string]*fakeNode // by address
	vipRefused  int                  // health probes of the VIP that failed
	// vipLate is how many probes after init find the VIP still down
	// before keepalived takes it.
	vipLate     int
	etcdRefused int
	// silent are addresses nothing answers from: machines off or cut off
	// from the rest. Every other address answers (a machine not in nodes
	// is booted and runs nothing).
	silent map[string]bool
	// vipSilent cuts the VIP off too.
	vipSilent bool
	// healAfter, when positive, ends the silence after that many probes
	// of silent machines.
	healAfter int
}

type fakeNode struct {
	c     *fakeCluster
	name  string
	addr  string
	root  string
	apiUp bool
	cmds  []string
	// hook, when set, sees every command first; handled means it answered.
	hook func(ctx context.Context, line string) (handled bool, out []byte, err error)
}

func newFakeCluster(version string, b *cluster.Bundle, endpoint string) *fakeCluster {
	return &fakeCluster{version: version, token: b.Token, ca: b.KubernetesCA.Cert, endpoint: endpoint, joined: map[string]bool{}, nodes: map[string]*fakeNode{}}
}

// joinCredential checks the join kubeconfig as the API server and the CSR
// approver would: a client certificate for this node, from the cluster CA,
// with its key.
func (n *fakeNode) joinCredential() error {
	data, err := os.ReadFile(n.path("etc/kubernetes/kiln-join.conf"))
	if err != nil {
		return errors.New("couldn't validate the identity of the API Server: open /etc/kubernetes/kiln-join.conf: no such file or directory")
	}
	var kc struct {
		Users []struct {
			User map[string]string `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(data, &kc); err != nil || len(kc.Users) != 1 {
		return fmt.Errorf("the discovery file is not a kubeconfig with one user: %v", err)
	}
	dec := func(k string) string { b, _ := base64.StdEncoding.DecodeString(kc.Users[0].User[k]); return string(b) }
	if _, err := credential.Verify(dec("client-certificate-data"), dec("client-key-data"), n.c.ca, n.name); err != nil {
		return fmt.Errorf("Unauthorized: %v", err)
	}
	return nil
}

func (c *fakeCluster) node(name, addr, root string) *fakeNode {
	n := &fakeNode{c: c, name: name, addr: addr, root: root}
	c.mu.Lock()
	c.nodes[addr] = n
	c.mu.Unlock()
	return n
}

// Healthy is the fake network: the VIP answers once the cluster is
// initialized and the VIP is up; a node's address:6443 when its API server
// runs.
func (c *fakeCluster) Healthy(_ context.Context, endpoint string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if endpoint == c.endpoint {
		if c.vipSilent {
			return errors.New("dial tcp " + endpoint + ": i/o timeout")
		}
		if c.initialized && !c.vipUp && c.vipLate <= 0 {
			c.vipUp = true
		}
		if c.initialized && c.vipUp {
			return nil
		}
		if c.initialized {
			c.vipLate--
		}
		c.vipRefused++
		return errors.New("dial tcp " + endpoint + ": connect: no route to host")
	}
	h, _, _ := net.SplitHostPort(endpoint)
	if c.silent[h] {
		return errors.New("dial tcp " + endpoint + ": i/o timeout")
	}
	if n := c.nodes[h]; n != nil && n.apiUp {
		return nil
	}
	return errors.New("dial tcp " + endpoint + ": connect: connection refused")
}

// Probe is the fake network's agent.PeerProber: a machine that answers
// serves the API, runs a kubelet (it joined, or is joining), or runs
// nothing.
func (c *fakeCluster) Probe(_ context.Context, host string) agent.PeerState {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[host]
	if c.silent[host] && c.healAfter > 0 {
		if c.healAfter--; c.healAfter == 0 {
			c.silent, c.vipSilent = nil, false
		}
	}
	switch {
	case c.silent[host]:
		return agent.PeerUnreachable
	case n == nil:
		return agent.PeerIdle
	case n.apiUp:
		return agent.PeerServing
	case c.joined[n.name] || n.exists("etc/kubernetes/kubelet.conf"):
		return agent.PeerMember
	}
	return agent.PeerIdle
}

func (n *fakeNode) path(p string) string { return filepath.Join(n.root, p) }
func (n *fakeNode) exists(p string) bool { _, err := os.Stat(n.path(p)); return err == nil }
func (n *fakeNode) write(p, data string) {
	os.MkdirAll(filepath.Dir(n.path(p)), 0o755)
	os.WriteFile(n.path(p), []byte(data), 0o600)
}

func fail(cmd, msg string) error {
	return &command.Error{Cmd: cmd, ExitCode: 1, Stderr: []byte(msg)}
}

func (n *fakeNode) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	line := command.Line(name, args...)
	n.c.mu.Lock()
	n.cmds = append(n.cmds, line)
	hook := n.hook
	n.c.mu.Unlock()
	if hook != nil {
		if handled, out, err := hook(ctx, line); handled {
			return out, err
		}
	}
	switch {
	case strings.HasPrefix(line, "kubeadm version"):
		return []byte(n.c.version + "\n"), nil
	case strings.HasPrefix(line, "kubeadm init phase"):
		return nil, n.initPhase(line, args[2])
	case strings.HasPrefix(line, "kubeadm init"):
		return nil, n.init(line)
	case strings.HasPrefix(line, "kubeadm join"):
		return nil, n.join(line)
	case strings.HasPrefix(line, "kubeadm reset"):
		n.reset()
		return nil, nil
	case name == "kubectl":
		return n.kubectl(line, args)
	case name == "kubeadm":
		return nil, fail(line, "unexpected kubeadm command")
	}
	return nil, nil // systemctl, nmcli, modprobe, sysctl, swapoff, ctr...
}

func (n *fakeNode) init(line string) error {
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.initCalls++
	if c.initialized {
		return fail(line, "[ERROR Port-6443]: Port 6443 is in use (init ran twice)")
	}
	for _, f := range []string{"etc/kubernetes/pki/ca.key", "etc/kubernetes/pki/etcd/ca.key", "etc/kubernetes/pki/front-proxy-ca.key", "etc/kubernetes/pki/sa.key", "etc/kubernetes/kubeadm-config.yaml"} {
		if !n.exists(f) {
			return fail(line, "missing "+f)
		}
	}
	if n.exists("etc/kubernetes/admin.conf") {
		return fail(line, "[ERROR FileAvailable--etc-kubernetes-admin.conf]: /etc/kubernetes/admin.conf already exists")
	}
	cfg, _ := os.ReadFile(n.path("etc/kubernetes/kubeadm-config.yaml"))
	if !bytes.Contains(cfg, []byte("kind: InitConfiguration")) || !bytes.Contains(cfg, []byte(c.token)) {
		return fail(line, "bad init configuration")
	}
	n.write("etc/kubernetes/admin.conf", "admin")
	n.write("etc/kubernetes/super-admin.conf", "super-admin")
	n.write("etc/kubernetes/manifests/etcd.yaml", "etcd")
	n.write("etc/kubernetes/manifests/kube-apiserver.yaml", "apiserver")
	n.write("etc/kubernetes/kubelet.conf", "kubelet")
	c.initRuns++
	c.initialized = true
	c.members = append(c.members, n.name)
	c.joined[n.name] = true
	n.apiUp = true
	return nil
}

func (n *fakeNode) initPhase(line, phase string) error {
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !n.exists("etc/kubernetes/manifests/kube-apiserver.yaml") {
		return fail(line, "no control plane on this node")
	}
	if phase == "kubelet-start" {
		n.apiUp = true // kubelet starts the static pods again
		return nil
	}
	if !n.apiUp {
		return fail(line, "the API server is down")
	}
	return nil
}

func (n *fakeNode) join(line string) error {
	c := n.c
	c.mu.Lock()
	cfg, _ := os.ReadFile(n.path("etc/kubernetes/kubeadm-config.yaml"))
	cp := bytes.Contains(cfg, []byte("controlPlane:"))
	switch {
	case !bytes.Contains(cfg, []byte("kind: JoinConfiguration")) || !bytes.Contains(cfg, []byte("kubeConfigPath: /etc/kubernetes/kiln-join.conf")) ||
		bytes.Contains(cfg, []byte("token")):
		c.mu.Unlock()
		return fail(line, "bad join configuration")
	case n.joinCredential() != nil:
		c.mu.Unlock()
		return fail(line, n.joinCredential().Error())
	case !(c.initialized && c.vipUp):
		c.mu.Unlock()
		return fail(line, "couldn't validate the identity of the API Server: connection refused")
	case n.exists("etc/kubernetes/kubelet.conf"):
		c.mu.Unlock()
		return fail(line, "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists")
	case !cp && n.exists("etc/kubernetes/pki/ca.crt"):
		c.mu.Unlock()
		return fail(line, "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists")
	}
	if cp {
		ents, _ := os.ReadDir(n.path("etc/kubernetes/manifests"))
		if len(ents) > 0 && !bytes.Contains(cfg, []byte("DirAvailable--etc-kubernetes-manifests")) {
			c.mu.Unlock()
			return fail(line, "[ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty")
		}
		for _, f := range []string{"ca.key", "etcd/ca.key", "front-proxy-ca.key", "sa.key", "sa.pub"} {
			if !n.exists("etc/kubernetes/pki/" + f) {
				c.mu.Unlock()
				return fail(line, "one or more conditions for hosting a new control plane instance is not satisfied: missing "+f)
			}
		}
	}
	n.write("etc/kubernetes/kubelet.conf", "kubelet") // kubelet-start comes before etcd
	if !cp {
		c.joined[n.name] = true
		c.mu.Unlock()
		return nil
	}
	if c.adding != "" {
		c.etcdRefused++
		c.mu.Unlock()
		return fail(line, "error execution phase control-plane-join/etcd: etcdserver: too many learner members in cluster")
	}
	c.adding = n.name
	c.mu.Unlock()
	time.Sleep(3 * time.Millisecond) // the member add takes a while
	c.mu.Lock()
	defer c.mu.Unlock()
	c.adding = ""
	if !slices.Contains(c.members, n.name) { // a rebuilt member keeps its place, as kubeadm reuses a member whose peer URL exists
		c.members = append(c.members, n.name)
	}
	n.write("etc/kubernetes/admin.conf", "admin")
	n.write("etc/kubernetes/manifests/kube-apiserver.yaml", "apiserver")
	c.joined[n.name] = true
	n.apiUp = true
	return nil
}

func (n *fakeNode) reset() {
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range []string{"admin.conf", "super-admin.conf", "kubelet.conf"} {
		os.Remove(n.path("etc/kubernetes/" + f))
	}
	for _, d := range []string{"etc/kubernetes/manifests", "etc/kubernetes/pki"} {
		os.RemoveAll(n.path(d))
	}
	c.members = slices.DeleteFunc(c.members, func(m string) bool { return m == n.name })
	delete(c.joined, n.name)
	n.apiUp = false
	if c.adding == n.name {
		c.adding = ""
	}
}

func (n *fakeNode) kubectl(line string, args []string) ([]byte, error) {
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(args) < 2 || args[0] != "--kubeconfig" || !n.exists(args[1]) {
		return nil, fail(line, "no kubeconfig")
	}
	if !c.initialized || !c.vipUp && !n.apiUp {
		return nil, fail(line, "The connection to the server was refused")
	}
	switch args[2] {
	case "apply":
		if !n.exists(args[len(args)-1]) {
			return nil, fail(line, "no manifest")
		}
		c.cniApplied = true
		return nil, nil
	case "-n": // -n kube-system patch secret ...
		return nil, nil
	case "get":
		if c.joined[args[4]] && c.cniApplied {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	}
	return nil, fail(line, "unexpected kubectl command")
}

func (n *fakeNode) commands() []string {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return slices.Clone(n.cmds)
}

// fakePlatform hands out one document, records statuses and can scrub.
type fakePlatform struct {
	mu       sync.Mutex
	data     []byte
	statuses []config.Status
	scrubbed bool
}

func (p *fakePlatform) Name() string { return "fake" }
func (p *fakePlatform) Metadata(context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.scrubbed {
		return nil, errors.New("no kiln metadata")
	}
	return p.data, nil
}
func (p *fakePlatform) ReportStatus(_ context.Context, data []byte) error {
	var s config.Status
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	p.mu.Lock()
	p.statuses = append(p.statuses, s)
	p.mu.Unlock()
	return nil
}
func (p *fakePlatform) ScrubMetadata(context.Context) error {
	p.mu.Lock()
	p.scrubbed = true
	p.mu.Unlock()
	return nil
}
func (p *fakePlatform) last() config.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.statuses) == 0 {
		return config.Status{}
	}
	return p.statuses[len(p.statuses)-1]
}

// fakeClock keeps virtual time for one agent; each sleep also yields a
// little real time so the other agents move on.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(200 * time.Microsecond):
		return nil
	}
}

var simLimits = agent.Limits{
	Attempts: 3, JoinAttempts: 12, Backoff: 10 * time.Second, MaxBackoff: time.Minute, Poll: 5 * time.Second,
	WaitAddress: time.Minute, WaitEndpoint: 2 * time.Hour, WaitAPIServer: 2 * time.Minute, WaitReady: 30 * time.Minute,
}

// testBundle makes the default topology: three control planes and three
// workers behind keepalived + haproxy on VIP:8443.
func testBundle(t *testing.T) *cluster.Bundle {
	t.Helper()
	b, err := cluster.New(cluster.Options{
		Name: "prod", KubernetesVersion: "v1.34.2", VIP: "10.31.100.100", DNSName: "k8s-api.prod.example.com",
		NTPServers: []string{"10.31.0.1"},
		ControlPlanes: []config.Peer{
			{Name: "m1", Address: "10.31.100.61"}, {Name: "m2", Address: "10.31.100.62"}, {Name: "m3", Address: "10.31.100.63"},
		},
		Workers: []config.Peer{
			{Name: "w1", Address: "10.31.100.101"}, {Name: "w2", Address: "10.31.100.102"}, {Name: "w3", Address: "10.31.100.103"},
		},
		NodeNetwork: cluster.NodeNetwork{Interface: "ens192", PrefixLength: 24, Gateway: "10.31.100.1", DNS: []string{"10.31.0.53"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simNode is one VM of the simulation.
type simNode struct {
	name     string
	node     *fakeNode
	platform *fakePlatform
	clock    *fakeClock
	err      error
	runs     int
	console  bytes.Buffer
	limits   agent.Limits // zero: simLimits
}

func metadata(t *testing.T, b *cluster.Bundle, name string) []byte {
	t.Helper()
	nc, err := b.NodeConfig(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := config.MarshalYAML(nc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (s *simNode) agent(t *testing.T, c *fakeCluster) *agent.Agent {
	lim := s.limits
	if lim == (agent.Limits{}) {
		lim = simLimits
	}
	a, err := agent.New(agent.Options{
		Root:        s.node.root,
		Platform:    s.platform,
		Runner:      s.node,
		Sethostname: func(string) error { return nil },
		Health:      c,
		Addrs: func() (map[string][]netip.Addr, error) {
			return map[string][]netip.Addr{"ens192": {netip.MustParseAddr(s.node.addr)}}, nil
		},
		Console: &s.console,
		Clock:   s.clock,
		Rand:    func() float64 { return 0.5 },
		Limits:  lim,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run runs the node's agent until it ends other than by a simulated
// reboot (its hook cancelling the context), rebooting it as often as the
// hook asks: each boot is a new Agent on the same root.
func (s *simNode) run(ctx context.Context, t *testing.T, c *fakeCluster, reboot *context.CancelFunc) {
	for {
		bootCtx, cancel := context.WithCancel(ctx)
		*reboot = cancel
		s.runs++
		err := s.agent(t, c).Run(bootCtx)
		rebooted := bootCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if !rebooted {
			s.err = err
			return
		}
		c.mu.Lock()
		s.node.apiUp = false // kubelet and its static pods stop with the machine
		c.mu.Unlock()
	}
}

func TestSimulatedCluster(t *testing.T) {
	b := testBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	addrs := map[string]string{"m1": "10.31.100.61", "m2": "10.31.100.62", "m3": "10.31.100.63", "w1": "10.31.100.101", "w2": "10.31.100.102", "w3": "10.31.100.103"}
	names := []string{"m1", "m2", "m3", "w1", "w2", "w3"}
	start := time.Now()
	nodes := map[string]*simNode{}
	reboots := map[string]*context.CancelFunc{}
	for _, name := range names {
		data := metadata(t, b, name)
		if name == "w3" { // a peer's metadata is invalid
			data = bytes.Replace(data, []byte("address: 10.31.100.103/24"), []byte("address: 10.31.100.303/24"), 1)
		}
		nodes[name] = &simNode{
			name:     name,
			node:     c.node(name, addrs[name], t.TempDir()),
			platform: &fakePlatform{data: data},
			clock:    &fakeClock{now: start},
		}
		reboots[name] = new(context.CancelFunc)
	}

	// Faults. m1 reboots right after kubeadm init succeeded, before the
	// agent could record it.
	initKilled := false
	nodes["m1"].node.hook = func(ctx context.Context, line string) (bool, []byte, error) {
		if strings.HasPrefix(line, "kubeadm init --config") && !initKilled {
			initKilled = true
			err := nodes["m1"].node.init(line)
			if err != nil {
				return true, nil, err
			}
			(*reboots["m1"])()
			return true, nil, context.Canceled
		}
		return false, nil, nil
	}
	// m2's first join is refused by etcd, as when another member is being
	// added, after kubeadm got as far as writing kubelet.conf.
	m2Refused := false
	nodes["m2"].node.hook = func(ctx context.Context, line string) (bool, []byte, error) {
		if strings.HasPrefix(line, "kubeadm join") && !m2Refused {
			m2Refused = true
			nodes["m2"].node.write("etc/kubernetes/kubelet.conf", "kubelet")
			c.mu.Lock()
			c.etcdRefused++
			c.mu.Unlock()
			return true, nil, fail(line, "error execution phase control-plane-join/etcd: etcdserver: unhealthy cluster")
		}
		return false, nil, nil
	}
	// m3 reboots in the middle of its join (kubelet.conf written, etcd
	// member not added).
	m3Killed := false
	nodes["m3"].node.hook = func(ctx context.Context, line string) (bool, []byte, error) {
		if strings.HasPrefix(line, "kubeadm join") && !m3Killed {
			m3Killed = true
			nodes["m3"].node.write("etc/kubernetes/kubelet.conf", "kubelet")
			(*reboots["m3"])()
			return true, nil, context.Canceled
		}
		return false, nil, nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The VIP comes up late: several probes after init still fail.
	c.vipLate = 8
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[name].run(ctx, t, c, reboots[name])
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the simulated cluster did not converge in time")
	}

	if c.initCalls != 1 || c.initRuns != 1 {
		t.Errorf("kubeadm init ran %d times (%d reached the control plane), want once", c.initCalls, c.initRuns)
	}
	slices.Sort(c.members)
	if want := []string{"m1", "m2", "m3"}; !slices.Equal(c.members, want) {
		t.Errorf("etcd members %v, want %v", c.members, want)
	}
	if c.vipLate > 0 {
		t.Errorf("the VIP never came up (%d probes to go)", c.vipLate)
	}
	if c.etcdRefused == 0 {
		t.Error("etcd never refused a member: the concurrent-add fault did not happen")
	}
	if nodes["m1"].runs != 2 || nodes["m3"].runs != 2 {
		t.Errorf("m1 booted %d times, m3 %d times; want 2 each", nodes["m1"].runs, nodes["m3"].runs)
	}
	for _, name := range []string{"m1", "m2", "m3", "w1", "w2"} {
		s := nodes[name]
		if s.err != nil {
			t.Errorf("%s: %v", name, s.err)
			continue
		}
		if !c.joined[name] {
			t.Errorf("%s is not in the cluster", name)
		}
		if !agent.Done(s.node.root) {
			t.Errorf("%s has no done marker", name)
		}
		if got := s.platform.last(); got.Phase != config.PhaseDone || got.Node != name {
			t.Errorf("%s: last status %+v, want phase done", name, got)
		}
		checkStatusFile(t, s.node.root, name, config.PhaseDone)
		if !s.platform.scrubbed {
			t.Errorf("%s: the platform's metadata was not scrubbed", name)
		}
		checkConsole(t, name, s.console.String(), config.PhaseDone)
	}

	// m1 finished the init it was interrupted in instead of running it again.
	m1 := strings.Join(nodes["m1"].node.commands(), "\n")
	for _, want := range []string{"kubeadm init phase kubelet-start", "kubeadm init phase bootstrap-token --config /etc/kubernetes/kubeadm-config.yaml", "kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f /etc/kiln/cni.yaml"} {
		if !strings.Contains(m1, want) {
			t.Errorf("m1 never ran %q", want)
		}
	}
	if strings.Contains(m1, "kubeadm reset") {
		t.Error("m1 ran kubeadm reset over its control plane")
	}
	// m2 and m3 reset after their failed or interrupted joins, then joined.
	for _, name := range []string{"m2", "m3"} {
		cmds := nodes[name].node.commands()
		joins, resetBetween := 0, false
		for _, l := range cmds {
			if strings.HasPrefix(l, "kubeadm join") {
				joins++
			}
			if l == "kubeadm reset -f" && joins == 1 {
				resetBetween = true
			}
		}
		if joins < 2 || !resetBetween {
			t.Errorf("%s: %d joins, reset between the first two: %v; want a reset, then a new join:\n%s", name, joins, resetBetween, strings.Join(cmds, "\n"))
		}
	}
	// Workers joined with the worker configuration and ran no control-plane steps.
	w1 := strings.Join(nodes["w1"].node.commands(), "\n")
	if strings.Contains(w1, "kubeadm init") || strings.Contains(w1, "admin.conf") {
		t.Errorf("w1 ran control-plane commands:\n%s", w1)
	}
	if _, err := os.Stat(filepath.Join(nodes["w1"].node.root, "etc/kubernetes/pki/ca.key")); err == nil {
		t.Error("w1 has the CA key")
	}

	// The bad node stopped at the metadata, naming the field, and did nothing else.
	w3 := nodes["w3"]
	var f *agent.Failure
	if !errors.As(w3.err, &f) || f.Step != "metadata" || !strings.Contains(f.Error(), "node.network.address") {
		t.Errorf("w3: Run = %v, want a metadata Failure naming node.network.address", w3.err)
	}
	if got := w3.platform.last(); got.Phase != config.PhaseFailed || !strings.Contains(got.Error, "node.network.address") {
		t.Errorf("w3: last status %+v, want failed naming node.network.address", got)
	}
	checkStatusFile(t, w3.node.root, "", config.PhaseFailed)
	checkConsole(t, "w3", w3.console.String(), config.PhaseFailed)
	if agent.Done(w3.node.root) || len(w3.node.commands()) != 0 {
		t.Errorf("w3 went on after invalid metadata: done=%v, commands %v", agent.Done(w3.node.root), w3.node.commands())
	}
}

func checkStatusFile(t *testing.T, root, node string, phase config.Phase) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "var/lib/kiln/status.json"))
	if err != nil {
		t.Error(err)
		return
	}
	var s config.Status
	if err := json.Unmarshal(data, &s); err != nil || s.Phase != phase || s.Node != node || s.Time.IsZero() {
		t.Errorf("status.json = %s (%v), want node %q phase %s with a time", data, err, node, phase)
	}
}

// checkConsole parses the node's console output as a host would and
// checks every line is a status and the last has phase.
func checkConsole(t *testing.T, name, out string, phase config.Phase) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last config.Status
	for _, l := range lines {
		s, ok, err := config.ParseStatusLine(l)
		if !ok || err != nil {
			t.Errorf("%s: console line %q is not a status line (%v)", name, l, err)
			return
		}
		last = s
	}
	if last.Phase != phase {
		t.Errorf("%s: last console status %+v, want phase %s", name, last, phase)
	}
}
