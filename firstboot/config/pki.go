package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// CACertHash returns kubeadm's --discovery-token-ca-cert-hash for a CA
// certificate: "sha256:" followed by the hex SHA-256 of the certificate's
// DER SubjectPublicKeyInfo (the same as
// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum`).
func CACertHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseCertificatePEM parses a PEM text holding exactly one CERTIFICATE.
func ParseCertificatePEM(text string) (*x509.Certificate, error) {
	der, err := onePEM(text, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return cert, nil
}

// ParsePrivateKeyPEM parses an RSA or ECDSA private key in any of the PEM
// forms kubeadm reads: "RSA PRIVATE KEY" (PKCS #1, what kubeadm writes),
// "EC PRIVATE KEY" (SEC 1) or "PRIVATE KEY" (PKCS #8).
func ParsePrivateKeyPEM(text string) (crypto.Signer, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	if len(trimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("private key is %T; want RSA or ECDSA", key)
}

// ParsePublicKeyPEM parses a "PUBLIC KEY" (PKIX) PEM text, as kubeadm's sa.pub.
func ParsePublicKeyPEM(text string) (crypto.PublicKey, error) {
	der, err := onePEM(text, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	return pub, nil
}

func onePEM(text, typ string) ([]byte, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, fmt.Errorf("not a PEM %s", typ)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, typ)
	}
	if len(trimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	return block.Bytes, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// samePublicKey reports whether pub is the public half of key.
func samePublicKey(key crypto.Signer, pub crypto.PublicKey) bool {
	k, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}
