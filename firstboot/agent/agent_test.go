package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/config"
)

// One bundle for the tests below: RSA key generation is the slow part.
var shared struct {
	once sync.Once
	b    *cluster.Bundle
}

func sharedBundle(t *testing.T) *cluster.Bundle {
	shared.once.Do(func() { shared.b = testBundle(t) })
	return shared.b
}

func single(t *testing.T, c *fakeCluster, b *cluster.Bundle, name, addr string) *simNode {
	return &simNode{
		name:     name,
		node:     c.node(name, addr, t.TempDir()),
		platform: &fakePlatform{data: metadata(t, b, name)},
		clock:    &fakeClock{now: time.Now()},
	}
}

func TestInitInterruptedBeforeTheControlPlane(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	m1 := single(t, c, b, "m1", "10.31.100.61")
	var reboot context.CancelFunc
	killed := false
	m1.node.hook = func(ctx context.Context, line string) (bool, []byte, error) {
		if strings.HasPrefix(line, "kubeadm init --config") && !killed {
			// kubeadm wrote the kubeconfigs and etcd's pod, then the
			// machine went down: no API server ever ran.
			killed = true
			m1.node.write("etc/kubernetes/admin.conf", "admin")
			m1.node.write("etc/kubernetes/manifests/etcd.yaml", "etcd")
			reboot()
			return true, nil, context.Canceled
		}
		return false, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1.run(ctx, t, c, &reboot)
	if m1.err != nil {
		t.Fatal(m1.err)
	}
	cmds := m1.node.commands()
	i := slices.Index(cmds, "kubeadm reset -f")
	j := slices.Index(cmds, "kubeadm init --config /etc/kubernetes/kubeadm-config.yaml")
	if i < 0 || i < j || !slices.Contains(cmds[i:], "kubeadm init --config /etc/kubernetes/kubeadm-config.yaml") {
		t.Errorf("no kubeadm reset after the interrupted init:\n%s", strings.Join(cmds, "\n"))
	}
	if c.initRuns != 1 || !agent.Done(m1.node.root) {
		t.Errorf("init reached the control plane %d times, done %v; want once, done", c.initRuns, agent.Done(m1.node.root))
	}
}

func TestEndpointNeverUpThenResume(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	w1 := single(t, c, b, "w1", "10.31.100.101")
	w1.limits = simLimits
	w1.limits.WaitEndpoint = 10 * time.Minute
	ctx := context.Background()
	err := w1.agent(t, c).Run(ctx)
	var f *agent.Failure
	if !errors.As(err, &f) || f.Step != "endpoint" || !strings.Contains(f.Hint, "m1") {
		t.Fatalf("Run with no control plane = %v, want a Failure at step endpoint naming m1", err)
	}
	if got := w1.platform.last(); got.Phase != config.PhaseFailed || !strings.Contains(got.Error, "10.31.100.100:8443") {
		t.Errorf("last status %+v, want failed naming the endpoint", got)
	}
	if agent.Done(w1.node.root) {
		t.Error("done marker after a failure")
	}
	st, err := agent.LoadState(w1.node.root)
	if err != nil {
		t.Fatal(err)
	}
	if st.Steps["swap"] == nil || st.Steps["swap"].Done.IsZero() || st.Steps["endpoint"] == nil || !st.Steps["endpoint"].Done.IsZero() {
		t.Errorf("state after the failure: %+v", st.Steps)
	}

	// The next boot, the cluster is there: only the remaining steps run,
	// with the metadata kept on the node (the platform's was scrubbed).
	c.initialized, c.vipUp, c.cniApplied = true, true, true
	before := len(w1.node.commands())
	if err := w1.agent(t, c).Run(ctx); err != nil {
		t.Fatal(err)
	}
	second := w1.node.commands()[before:]
	if slices.Contains(second, "swapoff -a") || slices.ContainsFunc(second, func(s string) bool { return strings.HasPrefix(s, "kubeadm version") }) {
		t.Errorf("the second boot ran steps done before:\n%s", strings.Join(second, "\n"))
	}
	if !slices.Contains(second, "kubeadm join --config /etc/kubernetes/kubeadm-config.yaml") || !agent.Done(w1.node.root) {
		t.Errorf("the second boot did not join and finish:\n%s", strings.Join(second, "\n"))
	}
	// Once done, the agent does nothing.
	before = len(w1.node.commands())
	if err := w1.agent(t, c).Run(ctx); err != nil || len(w1.node.commands()) != before {
		t.Errorf("a run after done: %v, %d commands", err, len(w1.node.commands())-before)
	}
}

func TestKubeadmVersionMismatch(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.33.1", b, "10.31.100.100:8443")
	w1 := single(t, c, b, "w1", "10.31.100.101")
	err := w1.agent(t, c).Run(context.Background())
	var f *agent.Failure
	if !errors.As(err, &f) || f.Step != "kubeadm-version" || !strings.Contains(err.Error(), "cluster.kubernetesVersion") {
		t.Fatalf("Run = %v, want a Failure at kubeadm-version naming cluster.kubernetesVersion", err)
	}
	n := 0
	for _, l := range w1.node.commands() {
		if strings.HasPrefix(l, "kubeadm version") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("kubeadm version ran %d times; a mismatch is not retried", n)
	}
}

func TestStateFileWrittenAtomically(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	c.initialized, c.vipUp, c.cniApplied = true, true, true
	w2 := single(t, c, b, "w2", "10.31.100.102")
	if err := w2.agent(t, c).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(w2.node.root, "var/lib/kiln"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"done", "state.json", "status.json"}; !slices.Equal(names, want) {
		t.Errorf("/var/lib/kiln holds %v, want %v (no temporary files)", names, want)
	}
	fi, err := os.Stat(filepath.Join(w2.node.root, agent.MetadataCopy))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("metadata copy: %v, mode %v; want 0600", err, fi)
	}
}

func TestPlan(t *testing.T) {
	b := sharedBundle(t)
	for _, tc := range []struct {
		name       string
		want, none []string
	}{
		// No step touches the bootstrap token's TTL any more.
		{"m1", []string{"host hostname:", "load-balancer load-balancer:", "init init:", "cni cni:", "ready ready:"}, []string{"join join:", "token", "permanent"}},
		{"m2", []string{"load-balancer load-balancer:", "join endpoint:", "join join: kubeadm join (control plane"}, []string{"init init:", "cni cni:", "join credential:"}},
		{"w1", []string{"join credential: checking the join credential for system:node:w1 has not expired", "join endpoint:", "join join: kubeadm join (worker)"}, []string{"load-balancer", "init init:"}},
	} {
		c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
		n := single(t, c, b, tc.name, "10.31.100.9")
		plan, err := n.agent(t, c).Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: plan lacks %q:\n%s", tc.name, w, text)
			}
		}
		for _, w := range tc.none {
			if strings.Contains(text, w) {
				t.Errorf("%s: plan has %q:\n%s", tc.name, w, text)
			}
		}
		if len(n.node.commands()) != 0 || n.platform.scrubbed {
			t.Errorf("%s: Plan ran %v or scrubbed", tc.name, n.node.commands())
		}
	}
}
