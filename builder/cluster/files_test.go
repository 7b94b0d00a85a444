package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

func writeSeed(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prod")
	if err := seedBundle(t).Write(dir, cluster.CreateOnly); err != nil {
		t.Fatal(err)
	}
	return dir
}

// As ssh does with a private key, a bundle whose keys or token others can
// read is refused, naming the file; certificates and cluster.yaml may be
// readable by all.
func TestLoadRefusesSecretsOthersCanRead(t *testing.T) {
	for _, name := range []string{cluster.TokenFile, cluster.CAKeyFile, cluster.FrontProxyKeyFile, cluster.EtcdCAKeyFile, cluster.SAPrivateKeyFile} {
		for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
			dir := writeSeed(t)
			path := filepath.Join(dir, name)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := cluster.Load(dir)
			var pe *cluster.PermissionError
			if !errors.As(err, &pe) || pe.Path != path {
				t.Fatalf("%s %#o: Load = %v, want a *PermissionError naming it", name, mode, err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "'"+path+"'") || !strings.Contains(msg, "too open") || !strings.Contains(msg, "chmod 600") {
				t.Errorf("%s %#o: message %q, want one ssh-style line naming the file", name, mode, msg)
			}
		}
	}
	dir := writeSeed(t)
	for _, name := range []string{cluster.SpecFile, cluster.CACertFile, cluster.FrontProxyCertFile, cluster.EtcdCACertFile, cluster.SAPublicKeyFile} {
		os.Chmod(filepath.Join(dir, name), 0o644)
	}
	if _, err := cluster.Load(dir); err != nil {
		t.Errorf("Load with public files 0644 = %v", err)
	}
}

// Whoever only watches a rollout holds cluster.yaml and pki/ca.crt, no key.
func TestLoadSpecNeedsOnlyThePublicFiles(t *testing.T) {
	dir := writeSeed(t)
	for _, name := range []string{cluster.TokenFile, cluster.CAKeyFile, cluster.FrontProxyKeyFile, cluster.EtcdCAKeyFile, cluster.SAPrivateKeyFile, cluster.SAPublicKeyFile, cluster.FrontProxyCertFile, cluster.EtcdCACertFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := cluster.LoadSpec(dir)
	if err != nil {
		t.Fatalf("LoadSpec without the keys = %v", err)
	}
	if s.Name != "prod" || s.CACertHash != seedBundle(t).Spec.CACertHash || len(s.Nodes()) != 5 {
		t.Errorf("LoadSpec = %+v", s)
	}
	if _, err := cluster.Load(dir); err == nil {
		t.Error("Load without the keys succeeded")
	}
	// The CA certificate is what the hash in cluster.yaml is checked against.
	os.WriteFile(filepath.Join(dir, cluster.CACertFile), []byte(seedBundle(t).EtcdCA.Cert), 0o644)
	if _, err := cluster.LoadSpec(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, cluster.CACertFile)) {
		t.Errorf("LoadSpec with another CA = %v, want an error naming pki/ca.crt", err)
	}
}

// A corrupt file of the bundle is named, not reported as a metadata field
// of some node.
func TestLoadNamesTheCorruptFile(t *testing.T) {
	b := seedBundle(t)
	for _, c := range []struct{ file, content string }{
		{cluster.CACertFile, "garbage\n"},
		{cluster.CAKeyFile, "garbage\n"},
		{cluster.CAKeyFile, b.EtcdCA.Key},
		{cluster.EtcdCACertFile, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{cluster.FrontProxyKeyFile, b.KubernetesCA.Key},
		{cluster.SAPublicKeyFile, "garbage\n"},
		{cluster.SAPrivateKeyFile, b.KubernetesCA.Key},
	} {
		dir := writeSeed(t)
		path := filepath.Join(dir, c.file)
		os.WriteFile(path, []byte(c.content), 0o600)
		_, err := cluster.Load(dir)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "node m1") {
			t.Errorf("%s = %q: Load = %v, want an error naming %s", c.file, c.content[:min(len(c.content), 20)], err, path)
		}
	}

	// A certificate that parses, with its key and cluster.yaml's hash to
	// match, but is no CA: named as the file, not as node m1's metadata.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-a-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	dir := writeSeed(t)
	os.WriteFile(filepath.Join(dir, cluster.CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, cluster.CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	spec, _ := os.ReadFile(filepath.Join(dir, cluster.SpecFile))
	spec = []byte(strings.Replace(string(spec), b.Spec.CACertHash, config.CACertHash(cert), 1))
	os.WriteFile(filepath.Join(dir, cluster.SpecFile), spec, 0o600)
	_, err = cluster.Load(dir)
	if path := filepath.Join(dir, cluster.CACertFile); err == nil || !strings.Contains(err.Error(), path+" is not a CA certificate") || strings.Contains(err.Error(), "node m1") {
		t.Errorf("a certificate that is no CA: Load = %v, want an error naming %s", err, path)
	}
}
