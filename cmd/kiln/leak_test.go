package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/test/secretscan"
)

// runAll is run with standard error and the error's text kept too.
func runAll(args ...string) []byte {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		out.WriteString("\nerror: " + err.Error() + "\n")
	}
	return out.Bytes()
}

// TestNoSecretInKilnOutputs runs kiln's cluster commands on a test cluster, in text and
// JSON, successes and failures, and finds none of the cluster's keys or its token's
// secret in what they print, except where printing them is the command's job (a control
// plane's metadata). A worker's metadata holds its own credential key and nothing of the
// cluster's.
func TestNoSecretInKilnOutputs(t *testing.T) {
	dir := newSeedCluster(t)
	b, err := cluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	needles := secretscan.FromBundle(b)
	refresh := filepath.Join(t.TempDir(), "m1.yaml")
	if err := os.WriteFile(refresh, runAll("metadata", "--cluster", dir, "--node", "m1"), 0o600); err != nil {
		t.Fatal(err)
	}
	newNodes := t.TempDir()
	for _, args := range [][]string{
		{"cluster", "show", "--cluster", dir},
		{"cluster", "show", "--cluster", dir, "-o", "json"},
		{"cluster", "add-node", "--cluster", dir, "--worker", "w2=10.31.100.102", "--metadata-dir", newNodes},
		{"cluster", "add-node", "--cluster", dir, "--worker", "w2=10.31.100.102"}, // refused: exists
		{"cluster", "add-node", "--cluster", dir, "--worker", "w3=10.31.100.103", "--credential-ttl", "0"},
		{"metadata", "--cluster", dir, "--node", "w1"},
		{"metadata", "--cluster", dir, "--node", "w1", "-o", "json"},
		{"metadata", "--cluster", dir, "--node", "w1", "--encoding", "gzip+base64"},
		{"metadata", "--cluster", dir, "--node", "nope"},
		{"metadata", "--cluster", dir, "--refresh", refresh}, // a control plane: refused
		{"metadata", "--cluster", dir, "--node", "w1", "--credential-ttl", "-1h"},
		{"cluster", "kubeconfig", "--cluster", dir, "--user", "alice", "--ttl", "48h"},
		{"vsphere", "clone", "--cluster", dir, "--template", "t", "--credential-ttl", "0"},
	} {
		out := runAll(args...)
		if found := secretscan.Find(needles, out); len(found) > 0 {
			t.Errorf("kiln %v printed %v", args, found)
		}
	}
	// The worker's metadata written by add-node holds nothing of the cluster's either.
	w2, err := os.ReadFile(filepath.Join(newNodes, "w2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if found := secretscan.Find(needles, w2); len(found) > 0 {
		t.Errorf("add-node's w2.yaml holds %v", found)
	}
	if fi, err := os.Stat(filepath.Join(newNodes, "w2.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("w2.yaml: %v, want mode 0600", err)
	}
	// The scan finds what is there: a control plane's metadata carries the keys.
	if found := secretscan.Find(needles, runAll("metadata", "--cluster", dir, "--node", "m1", "-o", "json")); len(found) < 4 {
		t.Errorf("the scan found only %v in a control plane's metadata", found)
	}
	nc, err := config.Parse(w2)
	if err != nil {
		t.Fatal(err)
	}
	if found := secretscan.Find(secretscan.FromNodeConfig(nc), w2); len(found) != 1 {
		t.Errorf("the scan did not find w2's own credential key in its metadata: %v", found)
	}
}
