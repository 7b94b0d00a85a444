package cluster

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/document"
)

// The bundle's layout. pki/ mirrors /etc/kubernetes/pki, so its files can
// be copied onto a control plane as they are.
const (
	SpecFile           = "cluster.yaml"
	TokenFile          = "token"
	CACertFile         = "pki/ca.crt"
	CAKeyFile          = "pki/ca.key"
	FrontProxyCertFile = "pki/front-proxy-ca.crt"
	FrontProxyKeyFile  = "pki/front-proxy-ca.key"
	EtcdCACertFile     = "pki/etcd/ca.crt"
	EtcdCAKeyFile      = "pki/etcd/ca.key"
	SAPublicKeyFile    = "pki/sa.pub"
	SAPrivateKeyFile   = "pki/sa.key"
)

// maxFileSize bounds what Load reads from any bundle file.
const maxFileSize = 1 << 20

// WriteMode says what Write does when the directory already holds a bundle.
type WriteMode int

// The write modes.
const (
	// CreateOnly refuses to replace an existing bundle (ErrExists).
	CreateOnly WriteMode = iota
	// Replace swaps an existing bundle for the new one.
	Replace
)

func (b *Bundle) files() ([]string, map[string][]byte, error) {
	spec, err := config.MarshalYAML(&b.Spec)
	if err != nil {
		return nil, nil, err
	}
	content := map[string][]byte{
		SpecFile:           spec,
		TokenFile:          []byte(b.Token + "\n"),
		CACertFile:         []byte(b.KubernetesCA.Cert),
		CAKeyFile:          []byte(b.KubernetesCA.Key),
		FrontProxyCertFile: []byte(b.FrontProxyCA.Cert),
		FrontProxyKeyFile:  []byte(b.FrontProxyCA.Key),
		EtcdCACertFile:     []byte(b.EtcdCA.Cert),
		EtcdCAKeyFile:      []byte(b.EtcdCA.Key),
		SAPublicKeyFile:    []byte(b.ServiceAccount.PublicKey),
		SAPrivateKeyFile:   []byte(b.ServiceAccount.PrivateKey),
	}
	order := []string{SpecFile, TokenFile, CACertFile, CAKeyFile, FrontProxyCertFile, FrontProxyKeyFile,
		EtcdCACertFile, EtcdCAKeyFile, SAPublicKeyFile, SAPrivateKeyFile}
	return order, content, nil
}

// Write stores the bundle in dir (directories 0700, files 0600). It builds
// the whole bundle in a temporary directory beside dir and renames it into
// place, so dir never holds half a bundle. An existing empty dir is taken;
// an existing bundle is replaced only with Replace; any other existing
// directory is refused, so a mistyped -o never deletes unrelated files.
func (b *Bundle) Write(dir string, mode WriteMode) error {
	if err := b.check(); err != nil {
		return fmt.Errorf("writing cluster bundle %s: %w", dir, err)
	}
	order, content, err := b.files()
	if err != nil {
		return fmt.Errorf("writing cluster bundle %s: %w", dir, err)
	}
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("writing cluster bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing cluster bundle: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename, tmp no longer exists
	for _, name := range order {
		if err := writeFile(filepath.Join(tmp, name), content[name]); err != nil {
			return fmt.Errorf("writing cluster bundle: %w", err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("writing cluster bundle: %w", err)
	}

	// rename(2) onto an empty directory succeeds and onto a non-empty one
	// fails, which is exactly CreateOnly, without a check-then-act race.
	// (os.Rename refuses any existing directory, so call rename(2) itself.)
	err = renameDir(tmp, dir)
	if err == nil {
		return syncDir(parent)
	}
	if !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("writing cluster bundle: %w", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, SpecFile)); serr != nil {
		return fmt.Errorf("writing cluster bundle: %s is not empty and holds no %s; refusing to replace it", dir, SpecFile)
	}
	if mode != Replace {
		return fmt.Errorf("writing cluster bundle %s: %w", dir, ErrExists)
	}
	old, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".old-")
	if err != nil {
		return fmt.Errorf("writing cluster bundle: %w", err)
	}
	if err := os.Rename(dir, filepath.Join(old, "bundle")); err != nil {
		os.Remove(old)
		return fmt.Errorf("writing cluster bundle: moving the old bundle aside: %w", err)
	}
	if err := renameDir(tmp, dir); err != nil {
		// Put the old bundle back rather than leave nothing.
		if rerr := os.Rename(filepath.Join(old, "bundle"), dir); rerr == nil {
			os.Remove(old)
		}
		return fmt.Errorf("writing cluster bundle: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("writing cluster bundle: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("removing the replaced bundle %s: %w", old, err)
	}
	return nil
}

// SaveSpec rewrites dir's cluster.yaml from b.Spec (after AddNode), by
// temporary file and rename. dir must hold this same cluster (same CA).
func (b *Bundle) SaveSpec(dir string) error {
	if err := b.check(); err != nil {
		return fmt.Errorf("saving %s: %w", filepath.Join(dir, SpecFile), err)
	}
	onDisk, err := Load(dir)
	if err != nil {
		return fmt.Errorf("saving %s: %w", filepath.Join(dir, SpecFile), err)
	}
	if onDisk.Spec.CACertHash != b.Spec.CACertHash {
		return fmt.Errorf("saving %s: the bundle there has another CA (%s, not %s)", filepath.Join(dir, SpecFile), onDisk.Spec.CACertHash, b.Spec.CACertHash)
	}
	if onDisk.Spec.ID != b.Spec.ID {
		return fmt.Errorf("saving %s: the bundle there has another ID (%q, not %q)", filepath.Join(dir, SpecFile), onDisk.Spec.ID, b.Spec.ID)
	}
	spec, err := config.MarshalYAML(&b.Spec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, SpecFile), spec, atomicfile.Options{Mode: 0o600})
}

// secretFiles are the bundle's files no one but its owner may read.
var secretFiles = map[string]bool{
	TokenFile: true, CAKeyFile: true, FrontProxyKeyFile: true, EtcdCAKeyFile: true, SAPrivateKeyFile: true,
}

// PermissionError is a key or token file that others than its owner can
// read: such a bundle is refused, as ssh refuses such a private key.
type PermissionError struct {
	Path string
	Mode fs.FileMode
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("permissions %#o for '%s' are too open: the cluster's keys and token must not be accessible by others (chmod 600 %s)", e.Mode.Perm(), e.Path, e.Path)
}

// readFile reads one file of the bundle in dir; a secret file must be
// private to its owner.
func readFile(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading cluster bundle: %w", err)
	}
	defer f.Close()
	if secretFiles[name] {
		fi, err := f.Stat()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", &PermissionError{Path: path, Mode: fi.Mode()}
		}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxFileSize+1)); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if buf.Len() > maxFileSize {
		return "", fmt.Errorf("reading %s: larger than %d bytes", path, maxFileSize)
	}
	return buf.String(), nil
}

// LoadSpec reads the public part of the bundle in dir: cluster.yaml,
// strictly decoded and valid, and pki/ca.crt, whose hash cluster.yaml
// must carry. It is all that commands which only look at a cluster need
// (kiln cluster show, kiln vsphere status, scrub, destroy), so whoever
// watches a rollout need not hold its keys.
func LoadSpec(dir string) (*Spec, error) {
	spec, err := readFile(dir, SpecFile)
	if err != nil {
		return nil, err
	}
	var s Spec
	file := filepath.Join(dir, SpecFile)
	lines, err := document.Decode(file, []byte(spec), &s)
	if err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, document.List(document.Errors(err)).Locate(file, lines).Err()
	}
	caCert, err := readFile(dir, CACertFile)
	if err != nil {
		return nil, err
	}
	if err := checkCAHash(dir, &s, caCert); err != nil {
		return nil, err
	}
	return &s, nil
}

func checkCAHash(dir string, s *Spec, caCert string) error {
	path := filepath.Join(dir, CACertFile)
	cert, err := config.ParseCertificatePEM(caCert)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := checkIsCA(path, cert); err != nil {
		return err
	}
	if h := config.CACertHash(cert); h != s.CACertHash {
		return fmt.Errorf("checking cluster bundle: %s is not the CA of %s (its hash is %s, caCertHash %s)", path, filepath.Join(dir, SpecFile), h, s.CACertHash)
	}
	return nil
}

// Load reads a bundle written by Write and checks it whole: cluster.yaml
// strictly decoded and valid, the keys and token private to their owner
// (PermissionError), every certificate and key parsed and every key
// matching its certificate, the CA hash matching the CA. A *config.Error
// in the result names a cluster.yaml field; other errors name the file.
func Load(dir string) (*Bundle, error) {
	s, err := LoadSpec(dir)
	if err != nil {
		return nil, err
	}
	b := Bundle{Spec: *s}
	token, err := readFile(dir, TokenFile)
	if err != nil {
		return nil, err
	}
	b.Token = strings.TrimSpace(token)
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{CACertFile, &b.KubernetesCA.Cert}, {CAKeyFile, &b.KubernetesCA.Key},
		{FrontProxyCertFile, &b.FrontProxyCA.Cert}, {FrontProxyKeyFile, &b.FrontProxyCA.Key},
		{EtcdCACertFile, &b.EtcdCA.Cert}, {EtcdCAKeyFile, &b.EtcdCA.Key},
		{SAPublicKeyFile, &b.ServiceAccount.PublicKey}, {SAPrivateKeyFile, &b.ServiceAccount.PrivateKey},
	} {
		if *f.dst, err = readFile(dir, f.name); err != nil {
			return nil, err
		}
	}
	if err := b.checkFiles(dir); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("checking cluster bundle %s: %w", dir, err)
	}
	return &b, nil
}

// checkFiles parses each certificate and key as read from dir and checks
// that each key belongs to its certificate, so that a damaged file is
// named as the file it is, not as a field of some node's metadata.
func (b *Bundle) checkFiles(dir string) error {
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, ca := range []struct {
		ck        config.CertKey
		cert, key string
	}{
		{b.KubernetesCA, CACertFile, CAKeyFile},
		{b.FrontProxyCA, FrontProxyCertFile, FrontProxyKeyFile},
		{b.EtcdCA, EtcdCACertFile, EtcdCAKeyFile},
	} {
		cert, err := config.ParseCertificatePEM(ca.ck.Cert)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path(ca.cert), err)
		}
		if err := checkIsCA(path(ca.cert), cert); err != nil {
			return err
		}
		key, err := config.ParsePrivateKeyPEM(ca.ck.Key)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path(ca.key), err)
		}
		if !samePublicKey(key, cert.PublicKey) {
			return fmt.Errorf("checking cluster bundle: %s does not belong to the certificate %s", path(ca.key), path(ca.cert))
		}
	}
	pub, err := config.ParsePublicKeyPEM(b.ServiceAccount.PublicKey)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path(SAPublicKeyFile), err)
	}
	key, err := config.ParsePrivateKeyPEM(b.ServiceAccount.PrivateKey)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path(SAPrivateKeyFile), err)
	}
	if !samePublicKey(key, pub) {
		return fmt.Errorf("checking cluster bundle: %s does not belong to the public key %s", path(SAPrivateKeyFile), path(SAPublicKeyFile))
	}
	return nil
}

func checkIsCA(path string, cert *x509.Certificate) error {
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("checking cluster bundle: %s is not a CA certificate (%q needs basicConstraints CA:TRUE and keyCertSign)", path, cert.Subject.CommonName)
	}
	return nil
}

// samePublicKey reports whether pub is the public half of key.
func samePublicKey(key crypto.Signer, pub crypto.PublicKey) bool {
	k, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return writeAndClose(f, data)
}

func writeAndClose(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil { // CreateTemp and umask aside, bundle files are 0600
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

func renameDir(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
