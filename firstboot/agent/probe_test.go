package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// listen accepts and drops connections on a loopback port.
func listen(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestProbeTellsWhatRunsOnAPeer(t *testing.T) {
	healthy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprint(w, "ok")
		}
	}))
	defer healthy.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: healthy.Certificate().Raw}))
	apiPort, _ := strconv.Atoi(healthy.URL[len("https://127.0.0.1:"):])
	// Another cluster's API server: a certificate this cluster's CA did not sign.
	foreign := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	foreign.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	foreign.StartTLS()
	defer foreign.Close()
	foreignPort, _ := strconv.Atoi(foreign.URL[len("https://127.0.0.1:"):])

	for _, tc := range []struct {
		name  string
		ports [3]int
		want  PeerState
	}{
		{"nothing listens", [3]int{freePort(t), freePort(t), freePort(t)}, PeerIdle},
		{"the API server passes with the cluster CA", [3]int{apiPort, freePort(t), freePort(t)}, PeerServing},
		{"a kubelet listens", [3]int{freePort(t), freePort(t), listen(t)}, PeerMember},
		{"etcd's peer port listens", [3]int{freePort(t), listen(t), freePort(t)}, PeerMember},
		{"an API server of another CA", [3]int{foreignPort, freePort(t), freePort(t)}, PeerMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewHTTPSHealthChecker(caPEM, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.ports = tc.ports
			if got := c.Probe(context.Background(), "127.0.0.1"); got != tc.want {
				t.Errorf("Probe = %q, want %q", got, tc.want)
			}
		})
	}
}

// selfSigned is a certificate for 127.0.0.1 from no CA this test trusts.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
