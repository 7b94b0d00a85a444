// Package secretscan is a test kit: it lists every secret of a test
// cluster (CA and service-account keys, the bootstrap token's secret,
// workers' credential keys) as needles, and finds them in what kiln and
// kiln-firstboot print, log and write, so that tests can assert that no
// output but the ones meant to carry secrets (kiln metadata, kubeconfig
// files, pki keys) does.
//
// A key is found in any of the forms outputs carry it: a line of its PEM
// body, or a piece of the base64 of the whole PEM (kubeconfig *-data
// fields, guestinfo values).
//
// Example:
//
//	needles := secretscan.FromBundle(b)
//	if found := secretscan.Find(needles, stdout); len(found) > 0 {
//		t.Errorf("kiln cluster show printed %v", found)
//	}
package secretscan

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

// Needle is one secret's recognisable piece and what it belongs to.
type Needle struct {
	Name string // e.g. "pki/ca.key"; never the secret
	Text string
}

// FromBundle lists the needles of every secret a bundle holds.
func FromBundle(b *cluster.Bundle) []Needle {
	var out []Needle
	out = append(out, PEM("pki/ca.key", b.KubernetesCA.Key, b.KubernetesCA.Cert)...)
	out = append(out, PEM("pki/front-proxy-ca.key", b.FrontProxyCA.Key, b.FrontProxyCA.Cert)...)
	out = append(out, PEM("pki/etcd/ca.key", b.EtcdCA.Key, b.EtcdCA.Cert)...)
	out = append(out, PEM("pki/sa.key", b.ServiceAccount.PrivateKey, b.ServiceAccount.PublicKey)...)
	if _, secret, ok := strings.Cut(b.Token, "."); ok {
		out = append(out, Needle{Name: "the bootstrap token's secret", Text: secret})
	}
	return out
}

// FromNodeConfig lists the needles of the secrets a node's metadata holds
// that a bundle does not: a worker's credential key.
func FromNodeConfig(nc *config.NodeConfig) []Needle {
	if c := nc.Cluster.Secrets.NodeCredential; c != nil {
		return PEM(nc.Node.Name+"'s credential key", c.Key, c.Cert)
	}
	return nil
}

// PEM lists the needles of one PEM-encoded key, leaving out any that also
// occur in the public texts given (an RSA private key holds its modulus,
// which the public key and certificate show too).
func PEM(name, text string, public ...string) []Needle {
	var out []Needle
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < 32 || strings.HasPrefix(line, "-----") {
			continue
		}
		inPublic := false
		for _, p := range public {
			inPublic = inPublic || strings.Contains(strings.ReplaceAll(p, "\n", ""), line)
		}
		if !inPublic {
			out = append(out, Needle{Name: name, Text: line})
		}
	}
	if b64 := base64.StdEncoding.EncodeToString([]byte(text)); len(b64) > 120 {
		out = append(out, Needle{Name: name + " (base64)", Text: b64[60:120]})
	}
	return out
}

// Find returns the names of the secrets whose needles occur in output,
// each once, in the order of needles.
func Find(needles []Needle, output []byte) []string {
	var found []string
	seen := map[string]bool{}
	for _, n := range needles {
		if !seen[n.Name] && n.Text != "" && bytes.Contains(output, []byte(n.Text)) {
			seen[n.Name] = true
			found = append(found, n.Name)
		}
	}
	return found
}
