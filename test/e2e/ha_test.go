//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/builder/qemu"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

// The HA test's bundle: two control planes behind the VIP, on the same
// private /24 as the cluster test.
const (
	haM2     = "10.77.0.12"
	haBudget = 60 * time.Minute
)

// TestHA forms the seed's control plane with two members: m1 (UEFI) runs
// kubeadm init, m2 (BIOS) joins through VIP:8443 with the CAs from its
// metadata, and no step copies anything between the nodes. It passes when
// both control planes are Ready through the VIP, etcd lists both members
// as started voting members, and, once m1 (which holds the VIP) is powered
// off, the VIP moves to m2 and m2's haproxy answers on it. With two members
// etcd loses quorum when one dies, so the API behind the VIP is not
// expected to serve after the power-off; the test measures the VIP move.
func TestHA(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-img", "mke2fs", "ip")
	root := repoRoot(t)
	in := clusterEnv(t, root)
	requirePrivateNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 85*time.Minute)
	defer cancel()

	bins, kubectlBin, out, img := clusterImage(t, ctx, root, "build/e2e-ha", in)

	bundleDir := filepath.Join(out, "cluster")
	kiln(t, ctx, bins.Kiln, "cluster", "new", "--name", "e2e-ha", "--kubernetes-version", in.Version, "--vip", clusterVIP,
		"--control-plane", "m1="+clusterM1, "--control-plane", "m2="+haM2, "--prefix", "24",
		"--gateway", clusterGateway, "--dns", clusterGateway,
		"--leader-election", "lease=137s,renew=107s,retry=26s", "--probes", "timeout=60s,liveness=30,startup=90",
		// Under emulation a healthy API server often misses keepalived's 2 s.
		"--lb-check", "interval=5s,timeout=10s,fall=6", "-o", bundleDir)
	b, err := cluster.Load(bundleDir)
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*vm{
		{name: "m1", address: clusterM1, firmware: qemu.UEFI, cpus: 2, memory: 3072, mac: "52:54:00:77:00:01"},
		{name: "m2", address: haM2, firmware: qemu.BIOS, cpus: 2, memory: 3072, mac: "52:54:00:77:00:02", nocloud: true},
	}
	setUpBridge(t, bridgeAddress(t, b), nodes)
	for _, n := range nodes {
		n.metadata = filepath.Join(out, n.name+".yaml")
		md := kiln(t, ctx, bins.Kiln, "metadata", "--cluster", bundleDir, "--node", n.name)
		if strings.Contains(md, "certificateKey") || strings.Contains(md, "certificate-key") {
			t.Fatalf("%s's metadata carries a kubeadm certificate key; control planes must join with the CAs alone", n.name)
		}
		if err := os.WriteFile(n.metadata, []byte(md), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(out, "admin.kubeconfig")
	kiln(t, ctx, bins.Kiln, "cluster", "kubeconfig", "--cluster", bundleDir, "--ttl", "2h", "-o", kubeconfig)
	kc := kubectl{bin: kubectlBin, kubeconfig: kubeconfig}
	endpoint := net.JoinHostPort(clusterVIP, "8443")

	var wg sync.WaitGroup
	defer wg.Wait()
	defer holdOnFailure(t, kubeconfig)
	power := map[string]context.CancelFunc{}
	poweredOn := time.Now()
	for _, n := range nodes {
		vmctx, off := context.WithCancel(ctx)
		defer off()
		power[n.name] = off
		n.start(t, vmctx, &wg, img.Raw, out)
	}

	// Both control planes done and Ready through the VIP.
	deadline := time.Now().Add(haBudget)
	last := ""
	for {
		for _, n := range nodes {
			if s, ok := n.final(); ok && s.Phase == config.PhaseFailed {
				t.Fatalf("%s: KILN-STATUS failed: %s: %s\nlast console lines:\n%s", n.name, s.Message, s.Error, n.tail(40))
			}
			if n.exited() {
				t.Fatalf("%s: the machine stopped: %v\nlast console lines:\n%s", n.name, n.err, n.tail(40))
			}
		}
		ready := nodeReadiness(ctx, kc)
		if r := fmt.Sprint(ready); r != last {
			t.Logf("+%s nodes Ready through %s: %s", time.Since(poweredOn).Round(time.Second), endpoint, r)
			last = r
		}
		done := ready["m1"] && ready["m2"]
		for _, n := range nodes {
			if s, ok := n.final(); !ok || s.Phase != config.PhaseDone {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Logf("%s: last status %s\nlast console lines:\n%s", n.name, n.lastStatus(), n.tail(60))
			}
			t.Fatalf("the two control planes did not form within %s; consoles in %s", haBudget, out)
		}
		time.Sleep(5 * time.Second)
	}
	t.Logf("both control planes Ready through the VIP after %s", time.Since(poweredOn).Round(time.Second))
	for _, n := range nodes {
		for _, l := range n.phaseTimes() {
			t.Logf("timing: %s: %s", n.name, l)
		}
	}

	// etcd: both members started and voting.
	etcd := etcdClient(t, b)
	var members []etcdMember
	waitFor(t, ctx, 5*time.Minute, "etcd to list m1 and m2 as started voting members", func() error {
		var err error
		members, err = etcdMembers(ctx, etcd, clusterM1)
		if err != nil {
			return err
		}
		started := map[string]bool{}
		for _, m := range members {
			if m.Name != "" && len(m.ClientURLs) > 0 && !m.IsLearner {
				started[m.Name] = true
			}
		}
		if len(members) != 2 || !started["m1"] || !started["m2"] {
			return fmt.Errorf("members %+v", members)
		}
		return nil
	})
	t.Logf("etcd members: %+v", members)

	// Power off the node that holds the VIP.
	holder := vipHolder(t, nodes)
	survivor := "m2"
	if holder == "m2" {
		survivor = "m1"
	}
	t.Logf("the VIP is on %s; powering it off", holder)
	off := time.Now()
	power[holder]()
	moved := time.Duration(0)
	waitFor(t, ctx, 2*time.Minute, "the VIP to answer again on "+survivor, func() error {
		c, err := net.DialTimeout("tcp", endpoint, time.Second)
		if err != nil {
			return err
		}
		c.Close()
		moved = time.Since(off)
		return nil
	})
	t.Logf("failover: %.1fs (power-off of %s to %s's haproxy accepting on %s)", moved.Seconds(), holder, survivor, endpoint)
	// interval × fall + advert_int with the slow-host check above, plus a
	// little for the ARP update.
	if moved > 35*time.Second {
		t.Errorf("the VIP took %s to move; the check settings promise about 31 s", moved.Round(100*time.Millisecond))
	}
	// With one of two etcd members gone there is no quorum: the API
	// behind the VIP is not expected to serve. Say what it does.
	if _, err := kc.run(ctx, "get", "--raw", "/readyz"); err != nil {
		t.Logf("through the VIP after the failover, /readyz fails as expected without etcd quorum: %v", err)
	} else {
		t.Logf("through the VIP after the failover, /readyz answers")
	}
	o, _ := kc.run(ctx, "get", "nodes")
	t.Logf("kubectl get nodes:\n%s", o)
}

// vipHolder finds which control plane holds the VIP, from the fixture's
// console report (the agent's done status comes before it) or, failing
// that, from the keepalived log lines the console shows.
func vipHolder(t *testing.T, nodes []*vm) string {
	t.Helper()
	for _, n := range nodes {
		n.mu.Lock()
		lines := append([]string(nil), n.lines...)
		n.mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, "KILN-FIXTURE addr") && strings.Contains(l, " "+clusterVIP+"/32") {
				return n.name
			}
		}
	}
	t.Fatal("no console reports the VIP")
	return ""
}

type etcdMember struct {
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// etcdClient is an HTTPS client for etcd's JSON gateway, with a client
// certificate the test mints from the bundle's etcd CA (etcd trusts any
// certificate from it).
func etcdClient(t *testing.T, b *cluster.Bundle) *http.Client {
	t.Helper()
	cred, err := credential.Mint(b.EtcdCA.Cert, b.EtcdCA.Key, "kiln-e2e", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(cred.Cert), []byte(cred.Key))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(b.EtcdCA.Cert))
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Proxy:           nil,
	}}
}

func etcdMembers(ctx context.Context, c *http.Client, addr string) ([]etcdMember, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+net.JoinHostPort(addr, "2379")+"/v3/cluster/member/list", bytes.NewReader([]byte("{}")))
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcd member list: %s: %s", resp.Status, body)
	}
	var list struct {
		Members []etcdMember `json:"members"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("etcd member list: %w: %s", err, body)
	}
	return list.Members, nil
}
