package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/test/secretscan"
)

// secretFiles are the files a node keeps secrets in, on purpose, each 0600:
// kubeadm's CA and service-account keys (control planes), and the kubeadm
// configuration, which holds the token kubeadm init makes.
func secretFile(rel string) bool {
	return strings.HasSuffix(rel, ".key") || rel == "etc/kubernetes/kubeadm-config.yaml" || rel == "etc/kubernetes/kiln-join.conf"
}

// TestNoSecretInAgentOutputs runs kiln-firstboot's dry run for a control plane that
// inits, one that joins and a worker, a worker whose credential expired, metadata that
// fails to parse and the certificate renewal, and finds none of the cluster's keys, its
// token's secret or a worker's credential key in what it prints (KILN-STATUS lines,
// plan, log, errors) or in any file it writes other than the key files, each 0600.
func TestNoSecretInAgentOutputs(t *testing.T) {
	b := bundle(t)
	needles := secretscan.FromBundle(b)
	docs := map[string]*config.NodeConfig{}
	for _, n := range []string{"m1", "m2", "w1", "w2"} {
		nc, err := b.NodeConfig(n)
		if err != nil {
			t.Fatal(err)
		}
		docs[n] = nc
		needles = append(needles, secretscan.FromNodeConfig(nc)...)
	}
	expired, err := b.NodeConfigWith("w2", cluster.NodeOptions{Now: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	docs["w2"] = expired
	needles = append(needles, secretscan.FromNodeConfig(expired)...)
	broken := *docs["w1"]
	s := broken.Cluster.Secrets
	cred := *s.NodeCredential
	cred.Key = strings.Replace(cred.Key, "EC PRIVATE KEY", "RSA PRIVATE KEY", 2) // parses as PEM, not as a key
	s.NodeCredential = &cred
	broken.Cluster.Secrets = s
	docs["broken"] = &broken

	check := func(what string, data []byte) {
		t.Helper()
		if found := secretscan.Find(needles, data); len(found) > 0 {
			t.Errorf("%s holds %v", what, found)
		}
	}
	for _, name := range []string{"m1", "m2", "w1", "w2", "broken"} {
		doc, err := config.MarshalYAML(docs[name])
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
		if (code != 0) != (name == "w2" || name == "broken") {
			t.Errorf("%s: exit %d: %s", name, code, stderr.String())
		}
		check(name+"'s standard output", stdout.Bytes())
		check(name+"'s standard error", stderr.Bytes())
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if secretFile(rel) {
				if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: /%s is %#o, want 0600", name, rel, fi.Mode().Perm())
				}
				return nil
			}
			data, _ := os.ReadFile(p)
			check(name+": /"+rel, data)
			return nil
		})
		if name == "w2" && !strings.Contains(stdout.String(), "credential expired at") {
			t.Errorf("w2: the expired credential was not refused:\n%s", stdout.String())
		}
	}
	// The certificate renewal's outputs, on a control plane's tree.
	root := t.TempDir()
	doc, _ := config.MarshalYAML(docs["m1"])
	os.MkdirAll(filepath.Join(root, "etc/kiln"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/kiln/metadata.yaml"), doc, 0o600)
	var stdout bytes.Buffer
	run(context.Background(), []string{"renew-certs", "--dry-run", "--root", root}, &stdout, &stdout)
	check("renew-certs", stdout.Bytes())
}
