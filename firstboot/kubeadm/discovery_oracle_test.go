package kubeadm

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/credential"
)

// These tests check the join with a node credential (discovery.file) against the real
// kubeadm: it must accept the configuration, read the kubeconfig kiln writes, trust the API
// server by the CA in it and present the node's client certificate.

// testCA is a Kubernetes CA made for one test, as kiln cluster new makes one.
type testCA struct {
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	certPEM string
	keyPEM  string
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))}
}

// standInAPIServer is a stand-in for kube-apiserver, for the one request file discovery
// makes: it serves TLS on 127.0.0.1 with a certificate from ca, requires a client
// certificate that ca signed and is valid now (as kube-apiserver's x509 authenticator
// does), records each client's common name, and answers the cluster-info lookup with 403,
// as a real API server does for a node (only system:anonymous may read it).
func standInAPIServer(t *testing.T, ca testCA) (server string, users func() []string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver (stand-in)"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		mu.Lock()
		seen = append(seen, cn)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"stand-in API server: ` +
			cn + ` may not read ` + r.URL.Path + `","reason":"Forbidden","code":403}`))
	}))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// joinFiles writes a node's join kubeconfig for server and the JoinConfiguration naming it.
func joinFiles(t *testing.T, version string, role Role, ca testCA, server, node string, cred credential.Credential) string {
	t.Helper()
	dir := t.TempDir()
	kc, err := credential.Kubeconfig(server, "prod-1", ca.certPEM, cred, node)
	if err != nil {
		t.Fatal(err)
	}
	discovery := filepath.Join(dir, "kiln-join.conf")
	if err := os.WriteFile(discovery, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	p := fileJoin(version, role, discovery)
	p.NodeName = node
	p.DiscoveryTimeout = 8 * time.Second
	return writeConfig(t, p)
}

// TestKubeadmValidatesTheDiscoveryFileJoin: kubeadm accepts a join with discovery.file, for
// a worker and a control plane, in both API versions it can read.
func TestKubeadmValidatesTheDiscoveryFileJoin(t *testing.T) {
	ca := newTestCA(t)
	for _, version := range []string{v1beta3Version, v1beta4Version} {
		t.Run(version, func(t *testing.T) {
			bin := kubeadmBinary(t, version)
			for _, role := range []Role{RoleJoinWorker, RoleJoinControlPlane} {
				node := "worker-1"
				if role == RoleJoinControlPlane {
					node = "cp-2"
				}
				cred, err := credential.Mint(ca.certPEM, ca.keyPEM, node, time.Now(), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				cfg := joinFiles(t, version, role, ca, "https://10.0.0.100:8443", node, cred)
				if out, err := kubeadm(t, bin, "config", "validate", "--config", cfg); err != nil {
					t.Errorf("kubeadm %s config validate (%s): %v\n%s", version, role, err, out)
				}
			}
		})
	}
}

// TestKubeadmJoinsWithANodeCredential: kubeadm 1.34 joins (dry run) with the credential as
// its bootstrap credential: it reaches the API server at the kubeconfig's address, trusts
// it by the CA, presents system:node:worker-1's certificate, and goes on to the kubelet
// TLS bootstrap with it.
func TestKubeadmJoinsWithANodeCredential(t *testing.T) {
	bin := kubeadmBinary(t, v1beta4Version)
	ca := newTestCA(t)
	server, users := standInAPIServer(t, ca)
	cred, err := credential.Mint(ca.certPEM, ca.keyPEM, "worker-1", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kubeadm(t, bin, "join", "--dry-run", "--ignore-preflight-errors=all", "-v=1",
		"--config", joinFiles(t, v1beta4Version, RoleJoinWorker, ca, server, "worker-1", cred))
	if err != nil {
		t.Fatalf("kubeadm join --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Using authentication credentials from the discovery file",
		"This node has joined the cluster",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubeadm join --dry-run output lacks %q", want)
		}
	}
	got := users()
	if len(got) == 0 {
		t.Error("kubeadm never reached the API server")
	}
	for _, u := range got {
		if u != "system:node:worker-1" {
			t.Errorf("the API server saw client %q, want only system:node:worker-1", u)
		}
	}
	if strings.Contains(out, cred.Key) || strings.Contains(out, strings.TrimSpace(cred.Key)[40:80]) {
		t.Error("kubeadm's output holds the node's private key")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestKubeadmRefusesAnExpiredNodeCredential: with a credential past its NotAfter the TLS
// handshake fails, discovery times out and kubeadm join fails without joining.
func TestKubeadmRefusesAnExpiredNodeCredential(t *testing.T) {
	bin := kubeadmBinary(t, v1beta4Version)
	ca := newTestCA(t)
	server, users := standInAPIServer(t, ca)
	cred, err := credential.Mint(ca.certPEM, ca.keyPEM, "worker-1", time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kubeadm(t, bin, "join", "--dry-run", "--ignore-preflight-errors=all",
		"--config", joinFiles(t, v1beta4Version, RoleJoinWorker, ca, server, "worker-1", cred))
	if err == nil || strings.Contains(out, "This node has joined the cluster") {
		t.Fatalf("kubeadm join with an expired credential succeeded:\n%s", out)
	}
	if got := users(); len(got) != 0 {
		t.Errorf("the API server served %q with an expired credential", got)
	}
}
