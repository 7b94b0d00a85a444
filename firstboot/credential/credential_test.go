package credential_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/firstboot/credential"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func newCA(t *testing.T, name string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

func TestMintMakesAClientCertificateForTheNodeOnly(t *testing.T) {
	caCert, caKey := newCA(t, "kubernetes")
	c, err := credential.Mint(caCert, caKey, "w1", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := credential.Check(c.Cert, c.Key, caCert, "w1", now.Add(time.Hour))
	if err != nil {
		t.Fatalf("Check of a fresh credential: %v", err)
	}
	if cert.Subject.CommonName != "system:node:w1" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject = %v, want CN system:node:w1, O system:nodes", cert.Subject)
	}
	if !cert.NotAfter.Equal(now.Add(24*time.Hour)) || !c.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("NotAfter = %s (reported %s), want %s", cert.NotAfter, c.NotAfter, now.Add(24*time.Hour))
	}
	if cert.IsCA || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("the credential is not a plain client certificate: IsCA %v, ExtKeyUsage %v", cert.IsCA, cert.ExtKeyUsage)
	}

	otherCA, _ := newCA(t, "kubernetes")
	other, err := credential.Mint(caCert, caKey, "w2", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var expired *credential.ExpiredError
	var early *credential.NotYetValidError
	var wrong *credential.WrongNodeError
	for _, tc := range []struct {
		name          string
		cert, key, ca string
		node          string
		at            time.Time
		is            func(error) bool
		wantInMessage string
	}{
		{"expired", c.Cert, c.Key, caCert, "w1", now.Add(25 * time.Hour), func(e error) bool { return errors.As(e, &expired) }, "credential expired at 2026-12-06T12:00:00Z"},
		{"before its time", c.Cert, c.Key, caCert, "w1", now.Add(-time.Hour), func(e error) bool { return errors.As(e, &early) }, "clock"},
		{"another node's", other.Cert, other.Key, caCert, "w1", now, func(e error) bool { return errors.As(e, &wrong) }, `"system:node:w2", not this node (system:node:w1)`},
		{"another cluster's CA", c.Cert, c.Key, otherCA, "w1", now, func(e error) bool { return e != nil }, "not signed by the cluster CA"},
		{"another key", c.Cert, other.Key, caCert, "w1", now, func(e error) bool { return e != nil }, "does not belong"},
	} {
		_, err := credential.Check(tc.cert, tc.key, tc.ca, tc.node, tc.at)
		if !tc.is(err) || !strings.Contains(errText(err), tc.wantInMessage) {
			t.Errorf("%s: Check = %v, want an error saying %q", tc.name, err, tc.wantInMessage)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error quotes a key: %v", tc.name, err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestMintRefuses(t *testing.T) {
	caCert, caKey := newCA(t, "kubernetes")
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		at   time.Time
		want string
	}{
		{"zero lifetime", 0, now, "positive"},
		{"negative lifetime", -time.Hour, now, "positive"},
		{"outliving the CA", 400 * 24 * time.Hour, now, "outlive the cluster CA"},
		{"before the CA", time.Hour, now.Add(-2 * time.Hour), "not valid before"},
	} {
		if _, err := credential.Mint(caCert, caKey, "w1", tc.at, tc.ttl); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Mint = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func TestKubeconfigEmbedsTheCAAndTheCredential(t *testing.T) {
	caCert, caKey := newCA(t, "kubernetes")
	c, err := credential.Mint(caCert, caKey, "w1", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	data, err := credential.Kubeconfig("https://10.0.0.100:8443", "prod", caCert, c, "w1")
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Name    string
			Cluster map[string]string
		}
		Users []struct {
			Name string
			User map[string]string
		}
		Contexts []struct {
			Name    string
			Context map[string]string
		}
		Current string `yaml:"current-context"`
	}
	if err := yaml.Unmarshal(data, &kc); err != nil {
		t.Fatal(err)
	}
	dec := func(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }
	if len(kc.Clusters) != 1 || kc.Clusters[0].Cluster["server"] != "https://10.0.0.100:8443" || dec(kc.Clusters[0].Cluster["certificate-authority-data"]) != caCert {
		t.Errorf("cluster = %+v", kc.Clusters)
	}
	if len(kc.Users) != 1 || dec(kc.Users[0].User["client-certificate-data"]) != c.Cert || dec(kc.Users[0].User["client-key-data"]) != c.Key {
		t.Errorf("user = %+v", kc.Users)
	}
	if len(kc.Contexts) != 1 || kc.Current != kc.Contexts[0].Name || kc.Contexts[0].Context["user"] != kc.Users[0].Name || kc.Contexts[0].Context["cluster"] != kc.Clusters[0].Name {
		t.Errorf("contexts = %+v, current %q", kc.Contexts, kc.Current)
	}
	if _, err := credential.Kubeconfig("http://10.0.0.100:8443", "prod", caCert, c, "w1"); err == nil {
		t.Error("Kubeconfig accepted a plain-HTTP server")
	}
}
