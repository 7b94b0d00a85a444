package cluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
)

// What kubeadm does when it makes a CA itself (cmd/kubeadm/app/util/pkiutil
// and client-go's cert.NewSelfSignedCACert), so that a cluster whose CAs
// kiln made looks like one whose CAs kubeadm made.
const (
	keyBits         = 2048                      // kubeadm's default encryptionAlgorithm is RSA-2048
	caValidity      = 10 * 365 * 24 * time.Hour // kubeadm's caCertificateValidityPeriod, 87600h
	certBackdate    = 5 * time.Minute           // kubeadm backdates CAs to allow small clock skew
	caKeyUsage      = x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	tokenAlphabet   = "abcdefghijklmnopqrstuvwxyz0123456789"
	tokenIDLen      = 6
	tokenSecretLen  = 16
	rsaPrivateKeyPE = "RSA PRIVATE KEY" // PKCS #1, as kubeadm writes ca.key and sa.key
)

// The common names kubeadm gives its CAs.
const (
	KubernetesCAName = "kubernetes"
	FrontProxyCAName = "front-proxy-ca"
	EtcdCAName       = "etcd-ca"
)

// newCA makes a self-signed CA certificate and its key.
func newCA(commonName string, now time.Time) (config.CertKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return config.CertKey{}, fmt.Errorf("generating %s key: %w", commonName, err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64-1))
	if err != nil {
		return config.CertKey{}, fmt.Errorf("generating %s serial: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: commonName},
		DNSNames:              []string{commonName},
		NotBefore:             now.Add(-certBackdate).UTC(),
		NotAfter:              now.Add(caValidity).UTC(),
		KeyUsage:              caKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return config.CertKey{}, fmt.Errorf("signing %s certificate: %w", commonName, err)
	}
	return config.CertKey{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: rsaPrivateKeyPE, Bytes: x509.MarshalPKCS1PrivateKey(key)})),
	}, nil
}

// newServiceAccountKey makes sa.key and sa.pub.
func newServiceAccountKey() (config.KeyPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return config.KeyPair{}, fmt.Errorf("generating service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return config.KeyPair{}, fmt.Errorf("encoding service-account public key: %w", err)
	}
	return config.KeyPair{
		PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: rsaPrivateKeyPE, Bytes: x509.MarshalPKCS1PrivateKey(key)})),
	}, nil
}

// NewBootstrapToken returns a random kubeadm bootstrap token,
// [a-z0-9]{6}.[a-z0-9]{16}, each character drawn uniformly from crypto/rand.
func NewBootstrapToken() (string, error) {
	id, err := randomString(tokenIDLen)
	if err != nil {
		return "", err
	}
	secret, err := randomString(tokenSecretLen)
	if err != nil {
		return "", err
	}
	return id + "." + secret, nil
}

func randomString(n int) (string, error) {
	// Bytes at or above the largest multiple of 36 are dropped so that every
	// character is equally likely.
	const limit = 256 - 256%len(tokenAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generating bootstrap token: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, tokenAlphabet[int(b)%len(tokenAlphabet)])
			}
		}
	}
	return string(out), nil
}
