package certrenew_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"github.com/kiln-build/kiln/firstboot/command"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/certrenew"
	"github.com/kiln-build/kiln/firstboot/host"
)

var issued = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func certPEM(t *testing.T, cn string, notAfter time.Time, ca bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: issued.Add(-time.Hour), NotAfter: notAfter, IsCA: ca, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// controlPlaneRoot is a control plane's /etc/kubernetes as kubeadm leaves it a year
// after init: CAs for ten years, leaf certificates for one, admin.conf a day later.
func controlPlaneRoot(t *testing.T) (string, time.Time) {
	t.Helper()
	root := t.TempDir()
	expires := issued.Add(365 * 24 * time.Hour)
	write := func(p, data string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/kubernetes/pki/ca.crt", certPEM(t, "kubernetes", issued.Add(3650*24*time.Hour), true))
	write("etc/kubernetes/pki/etcd/ca.crt", certPEM(t, "etcd-ca", issued.Add(3650*24*time.Hour), true))
	write("etc/kubernetes/pki/apiserver.crt", certPEM(t, "kube-apiserver", expires, false))
	write("etc/kubernetes/pki/etcd/server.crt", certPEM(t, "m1", expires.Add(time.Hour), false))
	write("etc/kubernetes/admin.conf", "apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: "+
		base64.StdEncoding.EncodeToString([]byte(certPEM(t, "kubernetes-admin", expires.Add(24*time.Hour), false)))+"\n    client-key-data: c2VjcmV0\n")
	for _, pod := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "haproxy"} {
		write("etc/kubernetes/manifests/"+pod+".yaml", "kind: Pod # "+pod+"\n")
	}
	return root, expires
}

// recorder runs nothing and records, in order, commands, manifest moves (as the
// manifests directory looks after each pause) and health probes.
type recorder struct {
	mu     sync.Mutex
	root   string
	events []string
}

func (r *recorder) add(e string) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.add("$ " + command.Line(name, args...))
	return nil, nil
}

type clock struct {
	r   *recorder
	now time.Time
}

func (c *clock) Now() time.Time { return c.now }
func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	ents, _ := os.ReadDir(filepath.Join(c.r.root, "etc/kubernetes/manifests"))
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	c.r.add("sleep " + d.String() + " with " + strings.Join(names, ","))
	c.now = c.now.Add(d)
	return nil
}

func renewer(root string, now time.Time) (certrenew.Renewer, *recorder) {
	r := &recorder{root: root}
	return certrenew.Renewer{
		Node:    &host.Host{Root: root, Runner: r},
		Clock:   &clock{r: r, now: now},
		Address: "10.31.100.61",
		Healthy: func(_ context.Context, ep string) error { r.add("healthz " + ep); return nil },
	}, r
}

func TestEarliestNamesTheFirstLeafToExpire(t *testing.T) {
	root, expires := controlPlaneRoot(t)
	e, ok, err := certrenew.Earliest(&host.Host{Root: root})
	if err != nil || !ok {
		t.Fatalf("Earliest = %v, %v", ok, err)
	}
	if e.Name != "/etc/kubernetes/pki/apiserver.crt" || !e.NotAfter.Equal(expires) {
		t.Errorf("Earliest = %+v, want apiserver.crt at %s (CAs left out)", e, expires)
	}
	if _, ok, err := certrenew.Earliest(&host.Host{Root: t.TempDir()}); ok || err != nil {
		t.Errorf("Earliest of an empty node = %v, %v; want none", ok, err)
	}
}

// TestRenewsOnlyWithinTheWindowAndRestartsInOrder drives the daily timer with a clock the
// test sets: 31 days before expiry nothing happens; 29 days before, kubeadm renews and
// the static pods restart one at a time in dependency order, the API server healthy
// before its clients go, every manifest back at the end.
func TestRenewsOnlyWithinTheWindowAndRestartsInOrder(t *testing.T) {
	root, expires := controlPlaneRoot(t)
	r, rec := renewer(root, expires.Add(-31*24*time.Hour))
	res, err := r.Run(context.Background())
	if err != nil || res.Renewed || len(rec.events) != 0 {
		t.Fatalf("31 days before expiry: renewed %v, events %v, err %v; want nothing done", res.Renewed, rec.events, err)
	}

	r, rec = renewer(root, expires.Add(-29*24*time.Hour))
	res, err = r.Run(context.Background())
	if err != nil || !res.Renewed || res.Before.Name != "/etc/kubernetes/pki/apiserver.crt" {
		t.Fatalf("29 days before expiry: %+v, %v; want renewed", res, err)
	}
	want := []string{
		"$ kubeadm certs renew all",
		"sleep 20s with haproxy,kube-apiserver,kube-controller-manager,kube-scheduler",
		"sleep 20s with etcd,haproxy,kube-controller-manager,kube-scheduler",
		"healthz 10.31.100.61:6443",
		"sleep 20s with etcd,haproxy,kube-apiserver,kube-scheduler",
		"sleep 20s with etcd,haproxy,kube-apiserver,kube-controller-manager",
	}
	if got := strings.Join(rec.events, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("renewal did\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	for _, pod := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(root, "etc/kubernetes/manifests", pod+".yaml")); err != nil {
			t.Errorf("%s's manifest is not back: %v", pod, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, certrenew.ParkDir)); len(ents) != 0 {
		t.Errorf("manifests left parked: %v", ents)
	}
}

func TestUnitsStaggerControlPlanes(t *testing.T) {
	for i, want := range []string{"03:00:00", "03:20:00", "03:40:00", "04:00:00"} {
		var timer string
		for _, f := range certrenew.Units(i) {
			if strings.HasSuffix(f.Path, ".timer") {
				timer = string(f.Data)
			}
		}
		if !strings.Contains(timer, "OnCalendar=*-*-* "+want+"\n") || !strings.Contains(timer, "Persistent=true") {
			t.Errorf("control plane %d: timer\n%s\nwant daily at %s", i, timer, want)
		}
	}
}
