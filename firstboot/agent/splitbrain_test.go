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

	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/config"
)

// The first control plane (the one that runs kubeadm init) must never
// start a second cluster. These runs cover how it can meet a cluster that
// already exists, or be unable to tell.

var cpAddrs = map[string]string{"m1": "10.31.100.61", "m2": "10.31.100.62", "m3": "10.31.100.63"}

// formCluster runs m1, m2 and m3 together until each is done.
func formCluster(t *testing.T, c *fakeCluster, nodes map[string]*simNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"m1", "m2", "m3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reboot context.CancelFunc
			nodes[name].run(ctx, t, c, &reboot)
		}()
	}
	wg.Wait()
	for _, name := range []string{"m1", "m2", "m3"} {
		if err := nodes[name].err; err != nil {
			t.Fatalf("forming the cluster: %s: %v", name, err)
		}
	}
	if c.initCalls != 1 {
		t.Fatalf("forming the cluster ran kubeadm init %d times", c.initCalls)
	}
}

func controlPlanes(t *testing.T, c *fakeCluster) map[string]*simNode {
	b := sharedBundle(t)
	nodes := map[string]*simNode{}
	for name, addr := range cpAddrs {
		nodes[name] = single(t, c, b, name, addr)
	}
	return nodes
}

// rebuild replaces m1 by a machine made from the image again with its
// original metadata: a fresh disk at the same address.
func rebuild(t *testing.T, c *fakeCluster, old *simNode) *simNode {
	c.mu.Lock()
	delete(c.nodes, old.node.addr) // the old machine is gone
	c.mu.Unlock()
	n := single(t, c, sharedBundle(t), old.name, old.node.addr)
	n.platform.data = old.platform.data
	return n
}

func TestRebuiltFirstControlPlaneJoinsTheClusterThatExists(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vipSilent bool // the VIP cannot be reached from m1; m2's API server can
	}{{"through the endpoint", false}, {"through a peer", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := sharedBundle(t)
			c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
			nodes := controlPlanes(t, c)
			formCluster(t, c, nodes)

			m1 := rebuild(t, c, nodes["m1"])
			c.vipSilent = tc.vipSilent
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if tc.vipSilent {
				// kubeadm join goes through the endpoint, so it fails
				// until the VIP is reachable again.
				failures := 0
				m1.node.hook = func(_ context.Context, line string) (bool, []byte, error) {
					if strings.HasPrefix(line, "kubeadm join") && failures < 2 {
						failures++
						if failures == 2 {
							c.mu.Lock()
							c.vipSilent = false
							c.mu.Unlock()
						}
						return true, nil, fail(line, "couldn't validate the identity of the API Server: i/o timeout")
					}
					return false, nil, nil
				}
			}
			var reboot context.CancelFunc
			m1.run(ctx, t, c, &reboot)
			if m1.err != nil {
				t.Fatal(m1.err)
			}
			if c.initCalls != 1 {
				t.Errorf("kubeadm init ran %d times; the rebuilt first control plane must not run it", c.initCalls)
			}
			members := slices.Clone(c.members)
			slices.Sort(members)
			if want := []string{"m1", "m2", "m3"}; !slices.Equal(members, want) {
				t.Errorf("etcd members %v, want %v", members, want)
			}
			cmds := strings.Join(m1.node.commands(), "\n")
			if !strings.Contains(cmds, "kubeadm join --config /etc/kubernetes/kubeadm-config.yaml") {
				t.Errorf("m1 did not join:\n%s", cmds)
			}
			if strings.Contains(cmds, "cni.yaml") {
				t.Errorf("m1 applied the pod network again over the cluster's:\n%s", cmds)
			}
			cfg, err := os.ReadFile(filepath.Join(m1.node.root, "etc/kubernetes/kubeadm-config.yaml"))
			if err != nil || !strings.Contains(string(cfg), "controlPlane:") {
				t.Errorf("m1's kubeadm configuration is not a control-plane join: %v\n%s", err, cfg)
			}
			if !strings.Contains(m1.console.String(), "a cluster already exists") {
				t.Errorf("no status says why m1 joined instead of initializing:\n%s", m1.console.String())
			}
			st, err := agent.LoadState(m1.node.root)
			if err != nil || st.JoinExisting == "" {
				t.Errorf("state does not record the cluster m1 found: %+v, %v", st, err)
			}
			if got := m1.platform.last(); got.Phase != config.PhaseDone {
				t.Errorf("last status %+v, want done", got)
			}
		})
	}
}

func TestFirstControlPlaneWaitsWhileAPeerIsSilent(t *testing.T) {
	t.Run("at formation, until the peer answers", func(t *testing.T) {
		c := newFakeCluster("v1.34.2", sharedBundle(t), "10.31.100.100:8443")
		nodes := controlPlanes(t, c)
		c.silent = map[string]bool{cpAddrs["m3"]: true}
		c.healAfter = 6
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var reboot context.CancelFunc
		m1 := nodes["m1"]
		m1.run(ctx, t, c, &reboot)
		if m1.err != nil {
			t.Fatal(m1.err)
		}
		if c.healAfter != 0 || c.initCalls != 1 {
			t.Errorf("m1 ran init with %d probes of the silent peer to go, %d times", c.healAfter, c.initCalls)
		}
	})
	t.Run("rebuilt behind a partition, it never initializes", func(t *testing.T) {
		c := newFakeCluster("v1.34.2", sharedBundle(t), "10.31.100.100:8443")
		nodes := controlPlanes(t, c)
		formCluster(t, c, nodes)
		m1 := rebuild(t, c, nodes["m1"])
		c.silent = map[string]bool{cpAddrs["m2"]: true, cpAddrs["m3"]: true}
		c.vipSilent = true
		m1.limits = simLimits
		m1.limits.WaitEndpoint = 10 * time.Minute
		err := m1.agent(t, c).Run(context.Background())
		var f *agent.Failure
		if !errors.As(err, &f) || f.Step != "existing-cluster" {
			t.Fatalf("Run behind a partition = %v, want a Failure at step existing-cluster", err)
		}
		got := m1.platform.last()
		if got.Phase != config.PhaseFailed || !strings.Contains(got.Error, "m2 (10.31.100.62), m3 (10.31.100.63) do not answer") {
			t.Errorf("last status %+v, want failed naming the silent control planes", got)
		}
		if c.initCalls != 1 {
			t.Errorf("kubeadm init ran %d times", c.initCalls)
		}
		// The partition heals; on its next boot the node joins.
		c.mu.Lock()
		c.silent, c.vipSilent = nil, false
		c.mu.Unlock()
		if err := m1.agent(t, c).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c.initCalls != 1 || !strings.Contains(strings.Join(m1.node.commands(), "\n"), "kubeadm join") {
			t.Errorf("after the partition: init ran %d times; m1 commands:\n%s", c.initCalls, strings.Join(m1.node.commands(), "\n"))
		}
	})
}

func TestFirstControlPlaneLateInitializes(t *testing.T) {
	// m2 and m3 boot first and wait for the endpoint; m1 comes much later
	// and finds them booted and running nothing, so it initializes.
	c := newFakeCluster("v1.34.2", sharedBundle(t), "10.31.100.100:8443")
	nodes := controlPlanes(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"m2", "m3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reboot context.CancelFunc
			nodes[name].run(ctx, t, c, &reboot)
		}()
	}
	for {
		c.mu.Lock()
		refused := c.vipRefused
		c.mu.Unlock()
		if refused >= 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var reboot context.CancelFunc
	nodes["m1"].run(ctx, t, c, &reboot)
	wg.Wait()
	for name, n := range nodes {
		if n.err != nil {
			t.Errorf("%s: %v", name, n.err)
		}
	}
	if c.initCalls != 1 || len(c.members) != 3 {
		t.Errorf("init ran %d times, members %v; want once, three", c.initCalls, c.members)
	}
}

func TestInitRefusesEtcdDataItDidNotWrite(t *testing.T) {
	c := newFakeCluster("v1.34.2", sharedBundle(t), "10.31.100.100:8443")
	m1 := single(t, c, sharedBundle(t), "m1", cpAddrs["m1"])
	m1.node.write("var/lib/etcd/member/snap/db", "another cluster's keys")
	err := m1.agent(t, c).Run(context.Background())
	var f *agent.Failure
	if !errors.As(err, &f) || f.Step != "init" || !strings.Contains(err.Error(), agent.EtcdMemberDir) {
		t.Fatalf("Run over etcd data = %v, want a Failure at init naming %s", err, agent.EtcdMemberDir)
	}
	if c.initCalls != 0 {
		t.Errorf("kubeadm init ran %d times over foreign etcd data", c.initCalls)
	}
	if n := strings.Count(strings.Join(m1.node.commands(), "\n"), "kubeadm reset"); n != 0 {
		t.Errorf("kubeadm reset ran %d times: the refusal is permanent and touches nothing", n)
	}
}
