package credential

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/firstboot/config"
)

// The identity a node credential carries: what the Node authorizer and
// kubeadm's auto-approval bindings recognise as a kubelet.
const (
	UserPrefix = "system:node:"
	NodesGroup = "system:nodes"
)

// DefaultTTL is how long a credential kiln mints stays valid unless told
// otherwise: long enough to clone and boot a VM, short enough that a copy
// of the metadata found later is useless.
const DefaultTTL = 24 * time.Hour

// backdate allows for the node's clock lagging the host that minted the
// credential, as kubeadm backdates the certificates it makes.
const backdate = 5 * time.Minute

// Credential is a minted node credential: PEM certificate and PEM private
// key (the secret), and when it expires.
type Credential struct {
	Cert     string
	Key      string
	NotAfter time.Time
}

// User is the user name a node's credential and kubelet carry.
func User(node string) string { return UserPrefix + node }

// Mint makes a new ECDSA P-256 key and a client certificate for it, CN
// system:node:NODE and O system:nodes, signed by the CA, valid from five
// minutes before now until now+ttl. ttl must be positive and the
// certificate must not outlive the CA.
func Mint(caCertPEM, caKeyPEM, node string, now time.Time, ttl time.Duration) (Credential, error) {
	if ttl <= 0 {
		return Credential{}, fmt.Errorf("credential lifetime %s: want a positive duration, e.g. 24h", ttl)
	}
	if node == "" {
		return Credential{}, errors.New("credential: no node name")
	}
	ca, err := parseCert(caCertPEM)
	if err != nil {
		return Credential{}, fmt.Errorf("reading the CA certificate: %w", err)
	}
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		return Credential{}, fmt.Errorf("reading the CA key: %w", err)
	}
	notBefore := now.Add(-backdate).UTC().Truncate(time.Second)
	notAfter := now.Add(ttl).UTC().Truncate(time.Second)
	switch {
	case now.Before(ca.NotBefore):
		return Credential{}, fmt.Errorf("the cluster CA is not valid before %s (is this host's clock right?)", ca.NotBefore.UTC().Format(time.RFC3339))
	case notAfter.After(ca.NotAfter):
		return Credential{}, fmt.Errorf("a credential valid for %s would outlive the cluster CA, which expires at %s", ttl, ca.NotAfter.UTC().Format(time.RFC3339))
	}
	if notBefore.Before(ca.NotBefore) {
		notBefore = ca.NotBefore
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Credential{}, fmt.Errorf("generating the node key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64-1))
	if err != nil {
		return Credential{}, fmt.Errorf("generating the certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: User(node), Organization: []string{NodesGroup}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return Credential{}, fmt.Errorf("signing the node certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Credential{}, fmt.Errorf("encoding the node key: %w", err)
	}
	return Credential{
		Cert:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:      string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
		NotAfter: notAfter,
	}, nil
}

// ExpiredError is a credential used after its NotAfter.
type ExpiredError struct{ NotAfter time.Time }

func (e *ExpiredError) Error() string {
	return "credential expired at " + e.NotAfter.UTC().Format(time.RFC3339)
}

// NotYetValidError is a credential used before its NotBefore: usually a
// node whose clock is wrong.
type NotYetValidError struct{ NotBefore, Now time.Time }

func (e *NotYetValidError) Error() string {
	return fmt.Sprintf("credential is not valid before %s (is the node's clock right? it says %s)",
		e.NotBefore.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

// WrongNodeError is a credential minted for another node.
type WrongNodeError struct{ Node, CommonName string }

func (e *WrongNodeError) Error() string {
	return fmt.Sprintf("credential is for %q, not this node (%s)", e.CommonName, User(e.Node))
}

// Verify checks what does not change with time: the certificate parses,
// is a client certificate for system:node:NODE in system:nodes signed by
// the CA, and key (when not empty) is its private key. It returns the
// certificate.
func Verify(certPEM, keyPEM, caCertPEM, node string) (*x509.Certificate, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if cert.Subject.CommonName != User(node) {
		return nil, &WrongNodeError{Node: node, CommonName: cert.Subject.CommonName}
	}
	if !slices.Contains(cert.Subject.Organization, NodesGroup) {
		return nil, fmt.Errorf("credential is not in the group %s (its groups are %v)", NodesGroup, cert.Subject.Organization)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return nil, errors.New("credential is not a client certificate (extended key usage clientAuth)")
	}
	ca, err := parseCert(caCertPEM)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("credential is not signed by the cluster CA %q: %w", ca.Subject.CommonName, err)
	}
	if keyPEM != "" {
		key, err := parseKey(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("credential key: %w", err)
		}
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(cert.PublicKey) {
			return nil, errors.New("credential key does not belong to its certificate")
		}
	}
	return cert, nil
}

// Check is Verify plus the certificate's dates at now: an *ExpiredError
// after NotAfter, a *NotYetValidError before NotBefore.
func Check(certPEM, keyPEM, caCertPEM, node string, now time.Time) (*x509.Certificate, error) {
	cert, err := Verify(certPEM, keyPEM, caCertPEM, node)
	if err != nil {
		return nil, err
	}
	switch {
	case now.After(cert.NotAfter):
		return cert, &ExpiredError{NotAfter: cert.NotAfter}
	case now.Before(cert.NotBefore):
		return cert, &NotYetValidError{NotBefore: cert.NotBefore, Now: now}
	}
	return cert, nil
}

// Kubeconfig is the kubeconfig kubeadm join reads with discovery.file: the
// API server, the CA it must present, and the node's credential embedded,
// so that kubeadm trusts the server by the CA and authenticates with the
// certificate (kubeadm writes the same document to bootstrap-kubelet.conf).
// It holds the private key: write it 0600.
func Kubeconfig(server, cluster, caCertPEM string, c Credential, node string) ([]byte, error) {
	if !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("API server %q: want https://HOST:PORT", server)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	user := User(node)
	doc := kubeconfig{
		APIVersion: "v1", Kind: "Config",
		Clusters: []namedCluster{{Name: cluster, Cluster: clusterInfo{Server: server, CertificateAuthorityData: b64(caCertPEM)}}},
		Contexts: []namedContext{{Name: user + "@" + cluster, Context: contextInfo{Cluster: cluster, User: user}}},
		Users:    []namedUser{{Name: user, User: userInfo{ClientCertificateData: b64(c.Cert), ClientKeyData: b64(c.Key)}}},
	}
	doc.CurrentContext = doc.Contexts[0].Name
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encoding the join kubeconfig: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the join kubeconfig: %w", err)
	}
	return buf.Bytes(), nil
}

// kubeconfig is the part of client-go's clientcmd v1 Config written here.
type kubeconfig struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
	Users          []namedUser    `yaml:"users"`
}

type namedCluster struct {
	Name    string      `yaml:"name"`
	Cluster clusterInfo `yaml:"cluster"`
}

type clusterInfo struct {
	Server                   string `yaml:"server"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
}

type namedContext struct {
	Name    string      `yaml:"name"`
	Context contextInfo `yaml:"context"`
}

type contextInfo struct {
	Cluster string `yaml:"cluster"`
	User    string `yaml:"user"`
}

type namedUser struct {
	Name string   `yaml:"name"`
	User userInfo `yaml:"user"`
}

type userInfo struct {
	ClientCertificateData string `yaml:"client-certificate-data"`
	ClientKeyData         string `yaml:"client-key-data"`
}

func parseCert(text string) (*x509.Certificate, error) { return config.ParseCertificatePEM(text) }

func parseKey(text string) (crypto.Signer, error) { return config.ParsePrivateKeyPEM(text) }
