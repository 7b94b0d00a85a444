package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/firstboot/config"
)

// kubeconfig is what kubectl reads of a kubeconfig, spelled as client-go's
// clientcmd v1 spells it; declared here, apart from the package's own, so
// the test reads the file the way a client would.
type kubeconfig struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Clusters   []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server string `yaml:"server"`
			CAData string `yaml:"certificate-authority-data"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	CurrentContext string `yaml:"current-context"`
	Users          []struct {
		Name string `yaml:"name"`
		User struct {
			CertData string `yaml:"client-certificate-data"`
			KeyData  string `yaml:"client-key-data"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// clientCert parses a kubeconfig as kubectl would and returns its one
// context's server, the CA it trusts and its client certificate, after
// checking the names line up and the key matches the certificate.
func clientCert(t *testing.T, data []byte) (server string, ca string, cert *x509.Certificate) {
	t.Helper()
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		t.Fatalf("the kubeconfig is not YAML: %v\n%s", err, data)
	}
	if kc.APIVersion != "v1" || kc.Kind != "Config" || len(kc.Clusters) != 1 || len(kc.Contexts) != 1 || len(kc.Users) != 1 {
		t.Fatalf("the kubeconfig is not one cluster, context and user:\n%s", data)
	}
	ctx := kc.Contexts[0]
	if kc.CurrentContext != ctx.Name || ctx.Context.Cluster != kc.Clusters[0].Name || ctx.Context.User != kc.Users[0].Name {
		t.Fatalf("the kubeconfig's names do not line up:\n%s", data)
	}
	unb64 := func(what, s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return b
	}
	ca = string(unb64("certificate-authority-data", kc.Clusters[0].Cluster.CAData))
	cert, err := config.ParseCertificatePEM(string(unb64("client-certificate-data", kc.Users[0].User.CertData)))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(unb64("client-key-data", kc.Users[0].User.KeyData))
	if block == nil || block.Type != "EC PRIVATE KEY" {
		t.Fatalf("client-key-data is not an EC PRIVATE KEY PEM")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if key.Curve != elliptic.P256() || !key.PublicKey.Equal(cert.PublicKey.(*ecdsa.PublicKey)) {
		t.Error("client-key-data is not the P-256 key of client-certificate-data")
	}
	return kc.Clusters[0].Cluster.Server, ca, cert
}

func TestAdminKubeconfigIsSignedByTheClusterCA(t *testing.T) {
	b := seedBundle(t)
	now := time.Now().UTC().Truncate(time.Second)
	k, err := b.AdminKubeconfig(cluster.KubeconfigOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	server, caPEM, cert := clientCert(t, k.Data)
	if server != "https://10.31.100.100:8443" || k.Server != server {
		t.Errorf("server = %q (reported %q), want https://10.31.100.100:8443, the VIP and port of cluster.yaml", server, k.Server)
	}
	if caPEM != b.KubernetesCA.Cert {
		t.Error("certificate-authority-data is not the bundle's pki/ca.crt")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(b.KubernetesCA.Cert))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the client certificate does not chain to the cluster CA for client auth: %v", err)
	}
	if cert.Subject.CommonName != "kiln-admin" || !slices.Equal(cert.Subject.Organization, []string{"kubeadm:cluster-admins"}) {
		t.Errorf("subject = %s, want CN=kiln-admin, O=kubeadm:cluster-admins (Kubernetes v1.34)", cert.Subject)
	}
	if !cert.NotBefore.Equal(now.Add(-time.Minute)) || !cert.NotAfter.Equal(now.Add(time.Hour)) || !k.NotAfter.Equal(cert.NotAfter) {
		t.Errorf("valid %s to %s (reported %s), want a minute before %s to an hour after", cert.NotBefore, cert.NotAfter, k.NotAfter, now)
	}
	if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("IsCA %v, key usage %v: want a leaf for digital signatures", cert.IsCA, cert.KeyUsage)
	}
	if k.Context != "kiln-admin@prod" || k.Cluster != "prod" {
		t.Errorf("context %q, cluster %q", k.Context, k.Cluster)
	}

	again, err := b.AdminKubeconfig(cluster.KubeconfigOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, c2 := clientCert(t, again.Data); c2.PublicKey.(*ecdsa.PublicKey).Equal(cert.PublicKey) || c2.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two kubeconfigs share a key or a serial")
	}
}

func TestAdminKubeconfigOptions(t *testing.T) {
	seed := seedBundle(t)
	old := *seed
	old.Spec.KubernetesVersion = "v1.28.15"
	now := time.Now()
	for _, c := range []struct {
		name       string
		b          *cluster.Bundle
		opts       cluster.KubeconfigOptions
		cn, server string
		groups     []string
		ttl        time.Duration
	}{
		{"before 1.29 the admin group is system:masters", &old, cluster.KubeconfigOptions{}, "kiln-admin", "https://10.31.100.100:8443", []string{"system:masters"}, time.Hour},
		{"user, groups, ttl and server are the caller's", seed,
			cluster.KubeconfigOptions{User: "alice@example.com", Groups: []string{"devs", "oncall"}, TTL: 24 * time.Hour, Server: "https://k8s-api.prod.example.com:8443"},
			"alice@example.com", "https://k8s-api.prod.example.com:8443", []string{"devs", "oncall"}, 24 * time.Hour},
	} {
		c.opts.Now = now
		k, err := c.b.AdminKubeconfig(c.opts)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		server, _, cert := clientCert(t, k.Data)
		if cert.Subject.CommonName != c.cn || !slices.Equal(cert.Subject.Organization, c.groups) || !slices.Equal(k.Groups, c.groups) || server != c.server ||
			!cert.NotAfter.Equal(now.Add(c.ttl).UTC().Truncate(time.Second)) {
			t.Errorf("%s: CN %q O %q server %q until %s", c.name, cert.Subject.CommonName, cert.Subject.Organization, server, cert.NotAfter)
		}
	}
}

func TestAdminKubeconfigErrorsNameTheField(t *testing.T) {
	b := seedBundle(t)
	ca, err := config.ParseCertificatePEM(b.KubernetesCA.Cert)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts cluster.KubeconfigOptions
		want string
	}{
		{cluster.KubeconfigOptions{TTL: -time.Hour}, "ttl: -1h0m0s is not a lifetime (want a positive duration, e.g. 1h)"},
		{cluster.KubeconfigOptions{TTL: 25 * time.Hour}, "ttl: 25h0m0s is longer than 24h: a client certificate cannot be revoked, so mint a new one when it expires"},
		{cluster.KubeconfigOptions{User: " root"}, `user: " root" has leading or trailing space`},
		{cluster.KubeconfigOptions{Groups: []string{"devs", ""}}, `groups[1]: "" is empty`},
		{cluster.KubeconfigOptions{Server: "http://10.31.100.100:8443"}, `server: "http://10.31.100.100:8443" is not an https:// URL`},
		{cluster.KubeconfigOptions{Server: "https://"}, `server: "https://" has no host`},
		{cluster.KubeconfigOptions{Now: ca.NotAfter.Add(-30 * time.Minute)}, "ttl: 1h0m0s outlives the cluster CA, which expires on " + ca.NotAfter.UTC().Format(time.RFC3339)},
		{cluster.KubeconfigOptions{Now: ca.NotBefore.Add(-time.Hour)}, "pki/ca.crt: the cluster CA is not valid before " + ca.NotBefore.UTC().Format(time.RFC3339) + " (is this host's clock right?)"},
	} {
		k, err := b.AdminKubeconfig(c.opts)
		if err == nil {
			t.Errorf("AdminKubeconfig(%+v) made a kubeconfig, want %q", c.opts, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("AdminKubeconfig(%+v) = %q, want %q", c.opts, err, c.want)
		}
		if k != nil {
			t.Errorf("AdminKubeconfig(%+v) returned a kubeconfig with its error", c.opts)
		}
	}
	var ce *config.Error
	if _, err := b.AdminKubeconfig(cluster.KubeconfigOptions{TTL: -1}); !errors.As(err, &ce) || ce.Field != "ttl" {
		t.Errorf("a bad ttl is %T, want a *config.Error for field ttl", err)
	}
}

func TestKubeconfigWriteFile(t *testing.T) {
	b := seedBundle(t)
	k, err := b.AdminKubeconfig(cluster.KubeconfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.kubeconfig")
	mode := func() os.FileMode {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	if err := k.WriteFile(path, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(k.Data) || mode() != 0o600 {
		t.Errorf("wrote %d bytes, mode %v; want the kubeconfig, 0600", len(got), mode())
	}

	// Renewing replaces a kubeconfig of the same cluster, and makes it 0600.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	k2, err := b.AdminKubeconfig(cluster.KubeconfigOptions{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if err := k2.WriteFile(path, false); err != nil {
		t.Errorf("renewing: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(k2.Data) || mode() != 0o600 {
		t.Errorf("renewing left mode %v, content changed %v", mode(), string(got) == string(k2.Data))
	}

	// Anything else (another cluster's kubeconfig, one holding several, a
	// stray file) is kept unless forced.
	other := strings.Replace(string(k.Data), "name: prod\n", "name: staging\n", 1)
	for _, foreign := range []string{other, "not a kubeconfig\n", "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n- name: staging\n"} {
		if err := os.WriteFile(path, []byte(foreign), 0o600); err != nil {
			t.Fatal(err)
		}
		err := k.WriteFile(path, false)
		if !errors.Is(err, cluster.ErrForeignKubeconfig) || !strings.Contains(err.Error(), path) {
			t.Errorf("WriteFile over %.20q = %v, want ErrForeignKubeconfig naming the file", foreign, err)
		}
		if got, _ := os.ReadFile(path); string(got) != foreign {
			t.Error("a refused WriteFile changed the file")
		}
	}
	if err := k.WriteFile(path, true); err != nil {
		t.Errorf("forced: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(k.Data) {
		t.Error("a forced WriteFile did not replace the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("WriteFile left temporary files: %v", ents)
	}
	if err := k.WriteFile(filepath.Join(dir, "no", "such", "dir"), false); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "no", "such", "dir")) {
		t.Errorf("WriteFile into a missing directory: %v, want an error naming the file", err)
	}
}

// TestAdminKubeconfigOpenSSL has openssl check what a client would: the
// certificate chains to the cluster CA for client authentication, the
// subject is the user and the group, and the key is the certificate's.
func TestAdminKubeconfigOpenSSL(t *testing.T) {
	openssl := reftest.Tool(t, "openssl")
	b := seedBundle(t)
	k, err := b.AdminKubeconfig(cluster.KubeconfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(k.Data, &kc); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"ca.crt":     kc.Clusters[0].Cluster.CAData,
		"client.crt": kc.Users[0].User.CertData,
		"client.key": kc.Users[0].User.KeyData,
	}
	for name, b64 := range files {
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := run("verify", "-CAfile", "ca.crt", "-purpose", "sslclient", "client.crt"); out != "client.crt: OK" {
		t.Errorf("openssl verify: %s", out)
	}
	if out := run("x509", "-in", "client.crt", "-noout", "-subject", "-nameopt", "RFC2253"); out != "subject=CN=kiln-admin,O=kubeadm:cluster-admins" {
		t.Errorf("openssl x509 -subject: %s", out)
	}
	if out := run("ec", "-in", "client.key", "-noout", "-text"); !strings.Contains(out, "NIST CURVE: P-256") {
		t.Errorf("openssl ec: the key is not P-256:\n%s", out)
	}
	if run("x509", "-in", "client.crt", "-noout", "-pubkey") != run("pkey", "-in", "client.key", "-pubout") {
		t.Error("openssl: client.key is not the key of client.crt")
	}
}
