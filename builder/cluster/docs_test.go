package cluster_test

import (
	"bytes"
	"flag"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/document"
	"os"
	"regexp"
	"testing"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated examples in docs/metadata.md")

const docPath = "../../docs/metadata.md"

// exampleBundle is the default topology of docs/metadata.md: three control
// planes and three workers behind keepalived + haproxy on VIP:8443, flannel
// on 10.244.0.0/16, static addresses. Its keys are the short test keys of
// firstboot/config/testdata/pki, so the example stays readable and fixed.
func exampleBundle(t *testing.T) *cluster.Bundle {
	t.Helper()
	pki := func(name string) string {
		b, err := os.ReadFile("../../firstboot/config/testdata/pki/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ca, err := config.ParseCertificatePEM(pki("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	s := cluster.Spec{
		APIVersion:           config.APIVersion,
		Kind:                 cluster.KindCluster,
		Name:                 "prod",
		ID:                   "3f9c2a7d51e84b06a1d2c3e4f5a6b7c8",
		KubernetesVersion:    "v1.34.2",
		ControlPlaneEndpoint: config.ControlPlaneEndpoint{VIP: "10.31.100.100", DNSName: "k8s-api.prod.example.com"},
		LoadBalancer:         config.LoadBalancer{Interface: "ens192"},
		NTPServers:           []string{"10.31.0.1"},
		NodeNetwork:          cluster.NodeNetwork{Interface: "ens192", PrefixLength: 24, Gateway: "10.31.100.1", DNS: []string{"10.31.0.53"}},
		CACertHash:           config.CACertHash(ca),
	}
	for i := 1; i <= 3; i++ {
		s.ControlPlanes = append(s.ControlPlanes, config.Peer{Name: fmt.Sprintf("m%d", i), Address: fmt.Sprintf("10.31.100.%d", 60+i)})
		s.Workers = append(s.Workers, config.Peer{Name: fmt.Sprintf("w%d", i), Address: fmt.Sprintf("10.31.100.%d", 100+i)})
	}
	// Defaults are filled the way New fills them: through Write and Load.
	b := &cluster.Bundle{
		Spec:           s,
		Token:          "abcdef.0123456789abcdef",
		KubernetesCA:   config.CertKey{Cert: pki("ca.crt"), Key: pki("ca.key")},
		FrontProxyCA:   config.CertKey{Cert: pki("front-proxy-ca.crt"), Key: pki("front-proxy-ca.key")},
		EtcdCA:         config.CertKey{Cert: pki("etcd-ca.crt"), Key: pki("etcd-ca.key")},
		ServiceAccount: config.KeyPair{PublicKey: pki("sa.pub"), PrivateKey: pki("sa.key")},
	}
	b.Spec.ControlPlaneEndpoint.Port = config.DefaultHAProxyPort
	b.Spec.LoadBalancer.Mode = config.DefaultLBMode
	b.Spec.LoadBalancer.VirtualRouterID = config.DefaultVirtualRouterID
	b.Spec.Networking = config.Networking{PodSubnet: config.DefaultPodSubnet, ServiceSubnet: config.DefaultServiceSubnet, DNSDomain: config.DefaultDNSDomain}
	b.Spec.CNI = config.DefaultCNI
	dir := t.TempDir() + "/b"
	if err := b.Write(dir, cluster.CreateOnly); err != nil {
		t.Fatal(err)
	}
	loaded, err := cluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

var generatedBlock = regexp.MustCompile("(?s)<!-- BEGIN GENERATED: ([a-z0-9.-]+) -->\n```(yaml|json)\n(.*?)```\n<!-- END GENERATED -->")

// TestDocExamples keeps docs/metadata.md's examples equal to what the code
// makes of the default topology, and checks each one parses and validates
// as the agent would read it.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	b := exampleBundle(t)
	pki := func(name string) string {
		b, err := os.ReadFile("../../firstboot/config/testdata/pki/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gen := func(name string) []byte {
		var v any = &b.Spec
		if name != "cluster.yaml" {
			nc, err := b.NodeConfig(name)
			if err != nil {
				t.Fatal(err)
			}
			if nc.Cluster.Secrets.NodeCredential != nil {
				// Minted anew on every call; the example shows one made
				// the same way (firstboot/config/testdata/pki/README.md).
				nc.Cluster.Secrets.NodeCredential = &config.CertKey{Cert: pki("w1-credential.crt"), Key: pki("w1-credential.key")}
			}
			v = nc
		}
		out, err := config.MarshalYAML(v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	seen := map[string]bool{}
	var failed bool
	updated := generatedBlock.ReplaceAllFunc(doc, func(m []byte) []byte {
		sm := generatedBlock.FindSubmatch(m)
		name, body := string(sm[1]), sm[3]
		seen[name] = true
		want := gen(name)
		if !bytes.Equal(body, want) {
			failed = true
			if !*updateDocs {
				t.Errorf("docs/metadata.md example %q differs from the code's output (go test ./builder/cluster -run TestDocExamples -update rewrites it):\n%s", name, want)
			}
		}
		if name == "cluster.yaml" {
			var s cluster.Spec
			if _, err := document.Decode("docs/metadata.md", body, &s); err != nil {
				t.Errorf("example %s: %v", name, err)
			}
		} else if nc, err := config.Parse(body); err != nil {
			t.Errorf("example %s does not validate: %v", name, err)
		} else if nc.Node.Name != name {
			t.Errorf("example %s is node %s", name, nc.Node.Name)
		}
		return []byte(fmt.Sprintf("<!-- BEGIN GENERATED: %s -->\n```yaml\n%s```\n<!-- END GENERATED -->", name, want))
	})
	for _, name := range []string{"cluster.yaml", "m1", "w1"} {
		if !seen[name] {
			t.Errorf("docs/metadata.md has no generated example %q", name)
		}
	}
	if failed && *updateDocs {
		if err := os.WriteFile(docPath, updated, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
