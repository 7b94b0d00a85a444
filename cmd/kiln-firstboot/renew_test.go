package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
)

// TestRenewCertsDryRunAtAChosenTime runs the timer's command on a control plane's tree
// at two times the test picks: 40 days before the API server certificate expires it
// only reports the expiry; 10 days before it renews and restarts the static pods.
func TestRenewCertsDryRunAtAChosenTime(t *testing.T) {
	expires := time.Date(2027, 12, 5, 10, 0, 0, 0, time.UTC)
	root, nc := controlPlaneTree(t, expires)
	renew := func(at time.Time) string {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"renew-certs", "--dry-run", "--root", root, "--now", at.Format(time.RFC3339)}, &stdout, &stderr); code != 0 {
			t.Fatalf("renew-certs at %s: exit %d: %s", at, code, stderr.String())
		}
		return stdout.String()
	}
	out := renew(expires.Add(-40 * 24 * time.Hour))
	if strings.Contains(out, "kubeadm certs renew") || !strings.Contains(out, `"certExpiry":{"name":"/etc/kubernetes/pki/apiserver.crt","notAfter":"2027-12-05T10:00:00Z"}`) {
		t.Errorf("40 days before expiry:\n%s", out)
	}
	out = renew(expires.Add(-10 * 24 * time.Hour))
	for _, want := range []string{"$ kubeadm certs renew all", "write /etc/kubernetes/kiln-renew/kube-apiserver.yaml", "? GET https://10.31.100.61:6443/healthz", "certificates: renewed"} {
		if !strings.Contains(out, want) {
			t.Errorf("10 days before expiry, output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, nc.Cluster.Secrets.KubernetesCA.Key) {
		t.Error("renew-certs printed a key")
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"renew-certs", "--root", root, "--now", "2027-01-01T00:00:00Z"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("--now without --dry-run: exit %d, want 2 (%s)", code, stderr.String())
	}
}

// controlPlaneTree writes a control plane's tree as renew-certs reads it:
// m1's metadata, an API server certificate that expires at expires, and its
// static pod. It returns the root and the metadata.
func controlPlaneTree(t *testing.T, expires time.Time) (string, *config.NodeConfig) {
	t.Helper()
	nc, err := bundle(t).NodeConfig("m1")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := config.MarshalYAML(nc)
	root := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-apiserver"}, NotBefore: expires.Add(-365 * 24 * time.Hour), NotAfter: expires}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	for p, data := range map[string][]byte{
		"etc/kiln/metadata.yaml":                       doc,
		"etc/kubernetes/pki/apiserver.crt":             pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"etc/kubernetes/manifests/kube-apiserver.yaml": []byte("kind: Pod\n"),
	} {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root, nc
}
