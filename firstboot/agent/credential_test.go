package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
	"github.com/kiln-build/kiln/test/secretscan"
)

// upCluster is a fake cluster whose first control plane has formed it.
func upCluster(b *cluster.Bundle) *fakeCluster {
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	c.initialized, c.vipUp = true, true
	c.members = []string{"m1"}
	c.cniApplied = true
	return c
}

func workerWith(t *testing.T, c *fakeCluster, b *cluster.Bundle, doc *config.NodeConfig) *simNode {
	t.Helper()
	data, err := config.MarshalYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &simNode{name: doc.Node.Name, node: c.node(doc.Node.Name, "10.31.100.101", t.TempDir()),
		platform: &fakePlatform{data: data}, clock: &fakeClock{now: time.Now()}}
}

func ranKubeadmJoin(n *simNode) bool {
	for _, c := range n.node.commands() {
		if strings.HasPrefix(c, "kubeadm join") {
			return true
		}
	}
	return false
}

// TestWorkerJoinsWithItsCredentialAndDropsIt: the worker's kubeadm join reads its
// credential from a 0600 kubeconfig, which is gone once the node has joined; no step
// touches a bootstrap token.
func TestWorkerJoinsWithItsCredentialAndDropsIt(t *testing.T) {
	b := sharedBundle(t)
	c := upCluster(b)
	nc, err := b.NodeConfig("w1")
	if err != nil {
		t.Fatal(err)
	}
	w1 := workerWith(t, c, b, nc)
	var mode fs.FileMode
	w1.node.hook = func(_ context.Context, line string) (bool, []byte, error) {
		if strings.HasPrefix(line, "kubeadm join") {
			if fi, err := os.Stat(w1.node.path("etc/kubernetes/kiln-join.conf")); err == nil {
				mode = fi.Mode().Perm()
			}
		}
		return false, nil, nil
	}
	// What the kubelet's TLS bootstrap leaves: its client certificate, which the final
	// status reports as the node's earliest certificate expiry.
	kubelet, err := credential.Mint(b.KubernetesCA.Cert, b.KubernetesCA.Key, "w1", time.Now(), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w1.node.write("var/lib/kubelet/pki/kubelet-client-current.pem", kubelet.Cert+kubelet.Key)
	var reboot context.CancelFunc
	w1.run(context.Background(), t, c, &reboot)
	if w1.err != nil {
		t.Fatal(w1.err)
	}
	if e := w1.platform.last().CertExpiry; e == nil || e.Name != "/var/lib/kubelet/pki/kubelet-client-current.pem" || !e.NotAfter.Equal(kubelet.NotAfter) {
		t.Errorf("final status certExpiry = %+v, want the kubelet's certificate at %s", e, kubelet.NotAfter)
	}
	// Nothing the agent reported holds a key, the token's secret or w1's credential key.
	needles := append(secretscan.FromBundle(b), secretscan.FromNodeConfig(nc)...)
	reported, _ := json.Marshal(w1.platform.statuses)
	for what, out := range map[string][]byte{"console": w1.console.Bytes(), "statuses": reported, "commands": []byte(strings.Join(w1.node.commands(), "\n"))} {
		if found := secretscan.Find(needles, out); len(found) > 0 {
			t.Errorf("the worker's %s hold %v", what, found)
		}
	}
	if !c.joined["w1"] || mode != 0o600 {
		t.Errorf("joined %v with the join kubeconfig at mode %#o; want joined, 0600", c.joined["w1"], mode)
	}
	if w1.node.exists("etc/kubernetes/kiln-join.conf") {
		t.Error("the spent join credential is still on the node")
	}
	for _, cmd := range w1.node.commands() {
		if strings.Contains(cmd, "bootstrap-token") || strings.Contains(cmd, "expiration") {
			t.Errorf("the worker touched a bootstrap token: %s", cmd)
		}
	}
}

// TestExpiredCredentialRefusedBeforeKubeadm: a worker booted after its credential
// expired stops at step credential, before any kubeadm join, saying when it expired and
// how to make a new one.
func TestExpiredCredentialRefusedBeforeKubeadm(t *testing.T) {
	b := sharedBundle(t)
	c := upCluster(b)
	minted := time.Now()
	nc, err := b.NodeConfigWith("w1", cluster.NodeOptions{CredentialTTL: 2 * time.Hour, Now: minted})
	if err != nil {
		t.Fatal(err)
	}
	w1 := workerWith(t, c, b, nc)
	w1.clock.now = minted.Add(3 * time.Hour)
	err = w1.agent(t, c).Run(context.Background())
	var f *agent.Failure
	if !errors.As(err, &f) || f.Step != "credential" {
		t.Fatalf("Run = %v, want a failure at step credential", err)
	}
	last := w1.platform.last()
	expires := minted.Add(2 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	for _, want := range []string{"credential: credential expired at " + expires + "; run `kiln metadata --cluster DIR --refresh OLD.yaml`", "--node w1"} {
		if last.Phase != config.PhaseFailed || !strings.Contains(last.Error, want) {
			t.Errorf("last status %s %q, want failed saying %q", last.Phase, last.Error, want)
		}
	}
	if !strings.Contains(w1.console.String(), `"phase":"failed"`) || !strings.Contains(w1.console.String(), "credential expired at") {
		t.Errorf("console lacks the KILN-STATUS failure:\n%s", w1.console.String())
	}
	if ranKubeadmJoin(w1) {
		t.Error("kubeadm join ran with an expired credential")
	}

	// kiln metadata --refresh: the platform gets a new document; the next boot takes it
	// over the kept copy and joins.
	if err := b.RefreshCredential(nc, cluster.NodeOptions{Now: w1.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	w1.platform.data, _ = config.MarshalYAML(nc)
	w1.platform.scrubbed = false
	var reboot context.CancelFunc
	w1.run(context.Background(), t, c, &reboot)
	if w1.err != nil || !c.joined["w1"] {
		t.Errorf("after the refresh: %v, joined %v", w1.err, c.joined["w1"])
	}
}

// TestAnotherNodesCredentialRefused: a worker given another node's credential stops at
// step credential and never runs kubeadm; the cluster would refuse it too (the fake's
// API server checks the certificate names the node, as the CSR approver does).
func TestAnotherNodesCredentialRefused(t *testing.T) {
	b := sharedBundle(t)
	c := upCluster(b)
	nc, err := b.NodeConfig("w1")
	if err != nil {
		t.Fatal(err)
	}
	w2, err := b.NodeConfig("w2")
	if err != nil {
		t.Fatal(err)
	}
	nc.Cluster.Secrets.NodeCredential = w2.Cluster.Secrets.NodeCredential
	w1 := workerWith(t, c, b, nc)
	err = w1.agent(t, c).Run(context.Background())
	var f *agent.Failure
	if !errors.As(err, &f) || f.Step != "credential" || !strings.Contains(f.Error(), `credential is for "system:node:w2", not this node (system:node:w1)`) {
		t.Fatalf("Run = %v, want a failure at step credential naming both nodes", err)
	}
	if ranKubeadmJoin(w1) || c.joined["w1"] {
		t.Error("kubeadm join ran with another node's credential")
	}
}
