package cluster_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

func seedOptions() cluster.Options {
	return cluster.Options{
		Name:              "prod",
		KubernetesVersion: "v1.34.2",
		VIP:               "10.31.100.100",
		ControlPlanes: []config.Peer{
			{Name: "m1", Address: "10.31.100.61"},
			{Name: "m2", Address: "10.31.100.62"},
			{Name: "m3", Address: "10.31.100.63"},
		},
		Workers: []config.Peer{
			{Name: "w1", Address: "10.31.100.101"},
			{Name: "w2", Address: "10.31.100.102"},
		},
		NodeNetwork: cluster.NodeNetwork{PrefixLength: 24, Gateway: "10.31.100.1", DNS: []string{"10.31.0.53"}},
	}
}

// newSeed makes one bundle per test binary run: RSA key generation is the
// slow part, and the tests below only read it.
var seed struct {
	b   *cluster.Bundle
	err error
}

func seedBundle(t *testing.T) *cluster.Bundle {
	t.Helper()
	if seed.b == nil && seed.err == nil {
		seed.b, seed.err = cluster.New(seedOptions())
	}
	if seed.err != nil {
		t.Fatalf("New: %v", seed.err)
	}
	return seed.b
}

func TestNewMakesKubeadmLikeCAs(t *testing.T) {
	b := seedBundle(t)
	now := time.Now()
	for _, c := range []struct {
		ck config.CertKey
		cn string
	}{{b.KubernetesCA, "kubernetes"}, {b.FrontProxyCA, "front-proxy-ca"}, {b.EtcdCA, "etcd-ca"}} {
		cert, err := config.ParseCertificatePEM(c.ck.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != c.cn || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("%s: subject %q, IsCA %v, key usage %b", c.cn, cert.Subject.CommonName, cert.IsCA, cert.KeyUsage)
		}
		if life := cert.NotAfter.Sub(cert.NotBefore); life < 3650*24*time.Hour || life > 3651*24*time.Hour {
			t.Errorf("%s: valid for %v, want 10 years", c.cn, life)
		}
		if cert.NotBefore.After(now) || cert.NotAfter.Before(now.Add(3649*24*time.Hour)) {
			t.Errorf("%s: validity %v to %v does not cover now + 10 years", c.cn, cert.NotBefore, cert.NotAfter)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() != 2048 {
			t.Errorf("%s: public key %T, want RSA 2048", c.cn, cert.PublicKey)
		}
		if err := cert.CheckSignatureFrom(cert); err != nil {
			t.Errorf("%s is not self-signed: %v", c.cn, err)
		}
		if blk, _ := pem.Decode([]byte(c.ck.Key)); blk == nil || blk.Type != "RSA PRIVATE KEY" {
			t.Errorf("%s key is not a PKCS #1 PEM as kubeadm writes it", c.cn)
		}
	}
	if blk, _ := pem.Decode([]byte(b.ServiceAccount.PublicKey)); blk == nil || blk.Type != "PUBLIC KEY" {
		t.Error("sa.pub is not a PUBLIC KEY PEM")
	}
	if !regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(b.Token) {
		t.Errorf("token %q is not a bootstrap token", b.Token)
	}
	other, err := cluster.NewBootstrapToken()
	if err != nil || other == b.Token {
		t.Errorf("NewBootstrapToken twice gave %q and %q (%v)", b.Token, other, err)
	}
}

// TestCACertHashMatchesOpenSSL checks the hash against the recipe the
// kubeadm documentation gives for --discovery-token-ca-cert-hash.
func TestCACertHashMatchesOpenSSL(t *testing.T) {
	reftest.Tool(t, "openssl")
	b := seedBundle(t)
	cmd := exec.Command("sh", "-c", "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -r")
	cmd.Stdin = strings.NewReader(b.KubernetesCA.Cert)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "sha256:" + strings.Fields(string(out))[0]
	if b.Spec.CACertHash != want {
		t.Errorf("CA hash %s, openssl says %s", b.Spec.CACertHash, want)
	}
	// And openssl agrees each key belongs to its certificate.
	for _, ck := range []config.CertKey{b.KubernetesCA, b.FrontProxyCA, b.EtcdCA} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "c"), []byte(ck.Cert), 0o600)
		os.WriteFile(filepath.Join(dir, "k"), []byte(ck.Key), 0o600)
		a, err1 := exec.Command("openssl", "x509", "-in", filepath.Join(dir, "c"), "-noout", "-pubkey").Output()
		k, err2 := exec.Command("openssl", "pkey", "-in", filepath.Join(dir, "k"), "-pubout").Output()
		if err1 != nil || err2 != nil || !bytes.Equal(a, k) {
			t.Errorf("openssl: key does not match certificate (%v, %v)", err1, err2)
		}
	}
}

func TestNodeConfigByRole(t *testing.T) {
	b := seedBundle(t)
	for _, n := range b.Spec.Nodes() {
		nc, err := b.NodeConfig(n.Name)
		if err != nil {
			t.Fatalf("NodeConfig(%s): %v", n.Name, err)
		}
		if nc.Node.Role != n.Role || nc.Node.Network.Address != n.Address+"/24" || nc.Node.Network.Mode != config.NetworkStatic {
			t.Errorf("%s: node %+v", n.Name, nc.Node)
		}
		if got := nc.Cluster.ControlPlane.Peers; len(got) != 3 || got[0].Name != "m1" {
			t.Errorf("%s: peers %v", n.Name, got)
		}
		s := nc.Cluster.Secrets
		if s.CACertHash != b.Spec.CACertHash || s.KubernetesCA.Cert != b.KubernetesCA.Cert {
			t.Errorf("%s: hash or CA certificate missing", n.Name)
		}
		y, err := config.MarshalYAML(nc)
		if err != nil {
			t.Fatal(err)
		}
		hasKey := bytes.Contains(y, []byte("PRIVATE KEY"))
		switch n.Role {
		case config.RoleWorker:
			if s.KubernetesCA.Key != "" || s.FrontProxyCA != nil || s.EtcdCA != nil || s.ServiceAccount != nil ||
				bytes.Contains(y, []byte(b.KubernetesCA.Key)) || bytes.Contains(y, []byte(b.ServiceAccount.PrivateKey)) {
				t.Errorf("worker %s got CA or service-account keys:\n%s", n.Name, y)
			}
			if s.BootstrapToken != "" || bytes.Contains(y, []byte(b.Token)) {
				t.Errorf("worker %s got the bootstrap token", n.Name)
			}
			if s.NodeCredential == nil {
				t.Fatalf("worker %s has no join credential", n.Name)
			}
			cert, err := credential.Check(s.NodeCredential.Cert, s.NodeCredential.Key, b.KubernetesCA.Cert, n.Name, time.Now())
			if err != nil {
				t.Errorf("worker %s: its credential: %v", n.Name, err)
			} else if d := time.Until(cert.NotAfter); d < 23*time.Hour || d > 24*time.Hour {
				t.Errorf("worker %s: credential valid for another %s, want 24h", n.Name, d)
			}
		case config.RoleControlPlane:
			if s.BootstrapToken != b.Token || s.NodeCredential != nil {
				t.Errorf("control plane %s: token %q, credential %v; want the bundle's token and no credential", n.Name, s.BootstrapToken, s.NodeCredential)
			}
			if !hasKey || s.KubernetesCA.Key != b.KubernetesCA.Key || s.FrontProxyCA == nil || *s.FrontProxyCA != b.FrontProxyCA ||
				s.EtcdCA == nil || *s.EtcdCA != b.EtcdCA || s.ServiceAccount == nil || *s.ServiceAccount != b.ServiceAccount {
				t.Errorf("control plane %s lacks key material", n.Name)
			}
		}
		// What the bundle derives must read back as the agent reads it.
		back, err := config.Parse(y)
		if err != nil {
			t.Fatalf("%s: Parse(NodeConfig): %v", n.Name, err)
		}
		if y2, _ := config.MarshalYAML(back); !bytes.Equal(y, y2) {
			t.Errorf("%s: metadata changed through Parse", n.Name)
		}
		if len(nc.Hosts) != 2 || nc.Hosts[1].Hostnames[0] != "w2" {
			t.Errorf("%s: hosts %v, want the workers", n.Name, nc.Hosts)
		}
	}
	if _, err := b.NodeConfig("nope"); err == nil {
		t.Error("NodeConfig of an unknown node succeeded")
	}
}

func TestNodeConfigWithCredentialTTL(t *testing.T) {
	b := seedBundle(t)
	now := time.Now()
	nc, err := b.NodeConfigWith("w1", cluster.NodeOptions{CredentialTTL: 90 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := credential.Check(nc.Cluster.Secrets.NodeCredential.Cert, "", b.KubernetesCA.Cert, "w1", now)
	if err != nil || !cert.NotAfter.Equal(now.Add(90*time.Minute).UTC().Truncate(time.Second)) {
		t.Errorf("credential NotAfter = %v (%v), want now+90m", cert, err)
	}
	if _, err := b.NodeConfigWith("w1", cluster.NodeOptions{CredentialTTL: -time.Hour}); config.Errors(err) == nil || config.Errors(err)[0].Field != "credentialTTL" {
		t.Errorf("a negative lifetime: %v, want a *config.Error for credentialTTL", err)
	}
	// Refreshing keeps the document and replaces only the credential.
	nc.Node.Labels = map[string]string{"kiln.dev/pool": "batch"}
	old := *nc.Cluster.Secrets.NodeCredential
	if err := b.RefreshCredential(nc, cluster.NodeOptions{Now: now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if *nc.Cluster.Secrets.NodeCredential == old || nc.Node.Labels["kiln.dev/pool"] != "batch" {
		t.Errorf("RefreshCredential: credential replaced %v, labels %v", *nc.Cluster.Secrets.NodeCredential != old, nc.Node.Labels)
	}
	if _, err := credential.Check(nc.Cluster.Secrets.NodeCredential.Cert, nc.Cluster.Secrets.NodeCredential.Key, b.KubernetesCA.Cert, "w1", now.Add(60*time.Hour)); err != nil {
		t.Errorf("refreshed credential: %v", err)
	}
	m1, _ := b.NodeConfig("m1")
	if err := b.RefreshCredential(m1, cluster.NodeOptions{}); config.Errors(err) == nil {
		t.Errorf("RefreshCredential of a control plane: %v, want a *config.Error", err)
	}
}

func TestNodeConfigDeterministic(t *testing.T) {
	b := seedBundle(t)
	a1, _ := b.NodeConfig("m2")
	a2, _ := b.NodeConfig("m2")
	y1, _ := config.MarshalYAML(a1)
	y2, _ := config.MarshalYAML(a2)
	if !bytes.Equal(y1, y2) {
		t.Error("NodeConfig is not deterministic")
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(*cluster.Options)
		field string
	}{
		{"version", func(o *cluster.Options) { o.KubernetesVersion = "1.34" }, "kubernetesVersion"},
		{"vip", func(o *cluster.Options) { o.VIP = "10.31.100.300" }, "controlPlaneEndpoint.vip"},
		{"no control planes", func(o *cluster.Options) { o.ControlPlanes = nil }, "controlPlanes"},
		{"peer address", func(o *cluster.Options) { o.ControlPlanes[2].Address = "x" }, "controlPlanes[2].address"},
		{"worker name", func(o *cluster.Options) { o.Workers[0].Name = "W_1" }, "workers[0].name"},
		{"worker dup name", func(o *cluster.Options) { o.Workers[1].Name = "m1" }, "workers[1].name"},
		{"worker dup address", func(o *cluster.Options) { o.Workers[1].Address = "10.31.100.62" }, "workers[1].address"},
		{"worker is vip", func(o *cluster.Options) { o.Workers[0].Address = "10.31.100.100" }, "workers[0].address"},
		{"cni", func(o *cluster.Options) { o.CNI = "weave" }, "cni"},
		{"lb", func(o *cluster.Options) { o.LoadBalancer.Mode = "f5" }, "loadBalancer.mode"},
		{"pod subnet", func(o *cluster.Options) { o.Networking.PodSubnet = "10.244.0.0/33" }, "networking.podSubnet"},
		{"gateway", func(o *cluster.Options) { o.NodeNetwork.Gateway = "gw" }, "nodeNetwork.gateway"},
		{"dns", func(o *cluster.Options) { o.NodeNetwork.DNS = []string{"dns"} }, "nodeNetwork.dns[0]"},
		{"interface", func(o *cluster.Options) { o.NodeNetwork.Interface = "a/b" }, "nodeNetwork.interface"},
		{"gateway outside", func(o *cluster.Options) { o.NodeNetwork.Gateway = "10.31.101.1" }, "nodeNetwork.gateway"},
		{"prefix", func(o *cluster.Options) { o.NodeNetwork.PrefixLength = 33 }, "nodeNetwork.prefixLength"},
		{"vip outside", func(o *cluster.Options) { o.VIP = "10.31.200.1" }, "controlPlaneEndpoint.vip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := seedOptions()
			o.ControlPlanes = append([]config.Peer(nil), o.ControlPlanes...)
			o.Workers = append([]config.Peer(nil), o.Workers...)
			c.edit(&o)
			_, err := cluster.New(o)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("New = %v, want a *config.Error", err)
			}
			if ce.Field != c.field {
				t.Errorf("error on %q (%v), want on %q", ce.Field, err, c.field)
			}
		})
	}
}

func TestWriteLoad(t *testing.T) {
	b := seedBundle(t)
	dir := filepath.Join(t.TempDir(), "prod")
	if err := b.Write(dir, cluster.CreateOnly); err != nil {
		t.Fatal(err)
	}
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = os.ModeDir | 0o700
		} else {
			names = append(names, rel)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", rel, info.Mode(), want)
		}
		return nil
	})
	if got, want := strings.Join(names, " "), "cluster.yaml pki/ca.crt pki/ca.key pki/etcd/ca.crt pki/etcd/ca.key pki/front-proxy-ca.crt pki/front-proxy-ca.key pki/sa.key pki/sa.pub token"; got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	spec, _ := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	if bytes.Contains(spec, []byte("PRIVATE")) || bytes.Contains(spec, []byte(b.Token)) {
		t.Errorf("cluster.yaml holds secrets:\n%s", spec)
	}
	back, err := cluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Token != b.Token || back.KubernetesCA != b.KubernetesCA || back.EtcdCA != b.EtcdCA || back.ServiceAccount != b.ServiceAccount {
		t.Error("Load does not give back what Write wrote")
	}
	y1, _ := config.MarshalYAML(&b.Spec)
	y2, _ := config.MarshalYAML(&back.Spec)
	if !bytes.Equal(y1, y2) {
		t.Errorf("spec differs after Load:\n%s\n%s", y1, y2)
	}

	// A second write is refused, unless replacing.
	if err := b.Write(dir, cluster.CreateOnly); !errors.Is(err, cluster.ErrExists) {
		t.Errorf("second Write = %v, want ErrExists", err)
	}
	if err := b.Write(dir, cluster.Replace); err != nil {
		t.Errorf("Write(Replace) = %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary directories left behind: %v", leftovers)
	}
	// A directory that is not a bundle is never replaced.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep me"), 0o644)
	if err := b.Write(other, cluster.Replace); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("Write over a non-bundle directory = %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Error("unrelated file lost")
	}
	// An empty directory is taken.
	empty := t.TempDir()
	if err := b.Write(empty, cluster.CreateOnly); err != nil {
		t.Errorf("Write into an empty directory = %v", err)
	}
}

func TestLoadChecks(t *testing.T) {
	b := seedBundle(t)
	for _, c := range []struct {
		name, file, content, want string
	}{
		{"foreign key", "pki/ca.key", b.EtcdCA.Key, "pki/ca.key does not belong to the certificate"},
		{"hash", "cluster.yaml", "", "caCertHash"},
		{"unknown field", "cluster.yaml", "", "cluster.yaml:1: bogus: unknown field"},
		{"missing", "pki/sa.pub", "-", "no such file"},
		{"token", "token", "nope\n", "bootstrapToken"},
		{"id", "cluster.yaml", "", `id: "not-an-id" is not a bundle ID`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			if err := b.Write(dir, cluster.CreateOnly); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.file)
			switch c.name {
			case "hash":
				spec, _ := os.ReadFile(path)
				c.content = strings.Replace(string(spec), b.Spec.CACertHash, "sha256:"+strings.Repeat("ab", 32), 1)
			case "unknown field":
				spec, _ := os.ReadFile(path)
				c.content = "bogus: 1\n" + string(spec)
			case "id":
				spec, _ := os.ReadFile(path)
				c.content = strings.Replace(string(spec), "id: "+b.Spec.ID, "id: not-an-id", 1)
			}
			if c.content == "-" {
				os.Remove(path)
			} else {
				os.WriteFile(path, []byte(c.content), 0o600)
			}
			_, err := cluster.Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestBundleID: every bundle is told from every other by a random ID kept
// in cluster.yaml; one made before IDs gets a stable one from its CA.
func TestBundleID(t *testing.T) {
	b := seedBundle(t)
	if len(b.Spec.ID) != 32 || b.Spec.BundleID() != b.Spec.ID {
		t.Errorf("ID %q, BundleID %q", b.Spec.ID, b.Spec.BundleID())
	}
	dir := filepath.Join(t.TempDir(), "b")
	if err := b.Write(dir, cluster.CreateOnly); err != nil {
		t.Fatal(err)
	}
	if s, err := cluster.LoadSpec(dir); err != nil || s.ID != b.Spec.ID {
		t.Errorf("LoadSpec: ID %v, %v", s, err)
	}
	legacy := b.Spec
	legacy.ID = ""
	if got, want := legacy.BundleID(), "ca-"+strings.TrimPrefix(b.Spec.CACertHash, "sha256:")[:32]; got != want {
		t.Errorf("BundleID without an ID = %q, want %q", got, want)
	}
}

func TestAddNode(t *testing.T) {
	b := seedBundle(t)
	dir := filepath.Join(t.TempDir(), "prod")
	if err := b.Write(dir, cluster.CreateOnly); err != nil {
		t.Fatal(err)
	}
	loaded, err := cluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.AddNode(config.RoleWorker, "w3", "10.31.100.103"); err != nil {
		t.Fatal(err)
	}
	if err := loaded.AddNode(config.RoleControlPlane, "m4", "10.31.100.64"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		role       config.Role
		name, addr string
		field      string
	}{
		{config.RoleWorker, "w3", "10.31.100.104", "workers[3].name"},
		{config.RoleWorker, "w4", "10.31.100.61", "workers[3].address"},
		{config.RoleControlPlane, "m5", "10.31.100.64", "controlPlanes[4].address"},
		{config.RoleWorker, "w4", "10.31.100.999", "workers[3].address"},
		{"etcd", "e1", "10.31.100.5", "role"},
	} {
		err := loaded.AddNode(bad.role, bad.name, bad.addr)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != bad.field {
			t.Errorf("AddNode(%s, %s, %s) = %v, want an error on %s", bad.role, bad.name, bad.addr, err, bad.field)
		}
	}
	if err := loaded.SaveSpec(dir); err != nil {
		t.Fatal(err)
	}
	again, err := cluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Spec.ID != b.Spec.ID {
		t.Errorf("add-node changed the bundle ID from %s to %s", b.Spec.ID, again.Spec.ID)
	}
	nodes := again.Spec.Nodes()
	if len(nodes) != 7 || nodes[3].Name != "m4" || nodes[6].Name != "w3" {
		t.Errorf("nodes after add-node: %v", nodes)
	}
	nc, err := again.NodeConfig("m4")
	if err != nil || nc.Cluster.ControlPlane.Peers[3].Name != "m4" || nc.Cluster.ControlPlane.Peers[0].Name != "m1" {
		t.Errorf("NodeConfig(m4) = %v", err)
	}
	// SaveSpec refuses a directory holding another cluster.
	other, err := cluster.New(seedOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.SaveSpec(dir); err == nil || !strings.Contains(err.Error(), "another CA") {
		t.Errorf("SaveSpec over another cluster = %v", err)
	}
}
