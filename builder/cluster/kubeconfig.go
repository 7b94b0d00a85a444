package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/kubeadm"
)

// The admin groups. kubeadm 1.29 and later bind ClusterAdminsGroup to the
// cluster-admin ClusterRole (an RBAC binding, so it can be taken away);
// before 1.29 the only admin group kubeadm sets up is SystemMastersGroup,
// which bypasses RBAC altogether.
const (
	ClusterAdminsGroup = "kubeadm:cluster-admins"
	SystemMastersGroup = "system:masters"
)

// Admin kubeconfig defaults and bounds.
const (
	DefaultKubeconfigUser = "kiln-admin"
	DefaultKubeconfigTTL  = time.Hour
	// MaxKubeconfigTTL bounds a client certificate's life: Kubernetes has
	// no way to revoke one short of replacing the cluster CA, so a lost
	// kubeconfig must expire soon. Mint a new one when it does.
	MaxKubeconfigTTL = 24 * time.Hour
	// kubeconfigBackdate allows for a little clock skew between this host
	// and the API servers.
	kubeconfigBackdate = time.Minute
)

// KubeconfigOptions say whom a kubeconfig is for and for how long. Zero
// values take the defaults.
type KubeconfigOptions struct {
	User   string        // the certificate's CN; "" means DefaultKubeconfigUser
	Groups []string      // the certificate's O; nil means AdminGroup of the cluster's version
	TTL    time.Duration // 0 means DefaultKubeconfigTTL; at most MaxKubeconfigTTL
	Server string        // the API URL; "" means https://VIP:PORT from cluster.yaml
	Now    time.Time     // zero means time.Now()
}

// Kubeconfig is a minted kubeconfig and what it grants, for the caller to
// report. Data holds the private key; everything else is public.
type Kubeconfig struct {
	Data     []byte
	Cluster  string
	Context  string
	User     string
	Groups   []string
	Server   string
	NotAfter time.Time

	caData string // certificate-authority-data, to recognize this cluster's kubeconfigs
}

// AdminGroup is the group that makes a user cluster-admin in a cluster that
// kubeadm made at kubernetesVersion (vX.Y.Z).
func AdminGroup(kubernetesVersion string) (string, error) {
	v, err := kubeadm.ParseVersion(kubernetesVersion)
	if err != nil {
		return "", &config.Error{Field: "kubernetesVersion", Msg: fmt.Sprintf("%q is not a Kubernetes release", kubernetesVersion)}
	}
	if v.AtLeast(1, 29) {
		return ClusterAdminsGroup, nil
	}
	return SystemMastersGroup, nil
}

// AdminKubeconfig mints a kubeconfig for the bundle's cluster: a new ECDSA
// P-256 key and a client certificate for it signed by the cluster's
// Kubernetes CA, CN the user and O the groups, valid from a minute ago for
// TTL, embedded with the CA certificate in one context. Errors about opts
// are *config.Error naming the field (user, groups, ttl, server).
func (b *Bundle) AdminKubeconfig(opts KubeconfigOptions) (*Kubeconfig, error) {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &config.Error{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	user := opts.User
	if user == "" {
		user = DefaultKubeconfigUser
	} else if msg := checkName(user); msg != "" {
		add("user", "%q %s", user, msg)
	}
	groups := append([]string(nil), opts.Groups...)
	if len(groups) == 0 {
		g, err := AdminGroup(b.Spec.KubernetesVersion)
		if err != nil {
			return nil, err
		}
		groups = []string{g}
	}
	for i, g := range groups {
		if msg := checkName(g); msg != "" {
			add(fmt.Sprintf("groups[%d]", i), "%q %s", g, msg)
		}
	}
	ttl := opts.TTL
	switch {
	case ttl == 0:
		ttl = DefaultKubeconfigTTL
	case ttl < 0:
		add("ttl", "%s is not a lifetime (want a positive duration, e.g. 1h)", ttl)
	case ttl > MaxKubeconfigTTL:
		add("ttl", "%s is longer than %s: a client certificate cannot be revoked, so mint a new one when it expires", ttl, fmtDuration(MaxKubeconfigTTL))
	}
	server := opts.Server
	if server == "" {
		ep := b.Spec.ControlPlaneEndpoint
		server = "https://" + net.JoinHostPort(ep.VIP, strconv.Itoa(ep.Port))
	} else if msg := checkServer(server); msg != "" {
		add("server", "%q %s", server, msg)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	ca, err := config.ParseCertificatePEM(b.KubernetesCA.Cert)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", CACertFile, err)
	}
	caKey, err := config.ParsePrivateKeyPEM(b.KubernetesCA.Key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", CAKeyFile, err)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	notBefore, notAfter := now.Add(-kubeconfigBackdate).UTC().Truncate(time.Second), now.Add(ttl).UTC().Truncate(time.Second)
	switch {
	case now.Before(ca.NotBefore):
		return nil, fmt.Errorf("%s: the cluster CA is not valid before %s (is this host's clock right?)", CACertFile, ca.NotBefore.UTC().Format(time.RFC3339))
	case now.After(ca.NotAfter):
		return nil, fmt.Errorf("%s: the cluster CA expired on %s", CACertFile, ca.NotAfter.UTC().Format(time.RFC3339))
	case notAfter.After(ca.NotAfter):
		return nil, &config.Error{Field: "ttl", Msg: fmt.Sprintf("%s outlives the cluster CA, which expires on %s", ttl, ca.NotAfter.UTC().Format(time.RFC3339))}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the client key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64-1))
	if err != nil {
		return nil, fmt.Errorf("generating the certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the client certificate with %s: %w", CAKeyFile, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the client key: %w", err)
	}

	k := &Kubeconfig{
		Cluster: b.Spec.Name, Context: user + "@" + b.Spec.Name, User: user, Groups: groups,
		Server: server, NotAfter: notAfter,
	}
	b64 := func(typ string, der []byte) string {
		return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	var doc kubeconfigFile
	doc.APIVersion, doc.Kind = "v1", "Config"
	doc.Clusters = []namedCluster{{Name: k.Cluster}}
	doc.Clusters[0].Cluster.Server = server
	k.caData = base64.StdEncoding.EncodeToString([]byte(b.KubernetesCA.Cert))
	doc.Clusters[0].Cluster.CertificateAuthorityData = k.caData
	doc.Contexts = []namedContext{{Name: k.Context}}
	doc.Contexts[0].Context.Cluster, doc.Contexts[0].Context.User = k.Cluster, user
	doc.CurrentContext = k.Context
	doc.Users = []namedUser{{Name: user}}
	doc.Users[0].User.ClientCertificateData = b64("CERTIFICATE", der)
	doc.Users[0].User.ClientKeyData = b64("EC PRIVATE KEY", keyDER)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encoding the kubeconfig: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the kubeconfig: %w", err)
	}
	k.Data = buf.Bytes()
	return k, nil
}

// kubeconfigFile is the part of client-go's clientcmd v1 Config that kiln
// writes, in its field spelling.
type kubeconfigFile struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
	Preferences    struct{}       `yaml:"preferences"`
	Users          []namedUser    `yaml:"users"`
}

type namedCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server                   string `yaml:"server"`
		CertificateAuthorityData string `yaml:"certificate-authority-data"`
	} `yaml:"cluster"`
}

type namedContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster string `yaml:"cluster"`
		User    string `yaml:"user"`
	} `yaml:"context"`
}

type namedUser struct {
	Name string `yaml:"name"`
	User struct {
		ClientCertificateData string `yaml:"client-certificate-data"`
		ClientKeyData         string `yaml:"client-key-data"`
	} `yaml:"user"`
}

// checkName says what is wrong with a user or group name, or "".
func checkName(s string) string {
	if s == "" {
		return "is empty"
	}
	if strings.TrimSpace(s) != s {
		return "has leading or trailing space"
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "has an unprintable character"
		}
	}
	return ""
}

func checkServer(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "https":
		return "is not an https:// URL"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "may hold only a host, port and path"
	}
	return ""
}

// fmtDuration prints whole hours as 24h rather than 24h0m0s.
func fmtDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// ErrForeignKubeconfig is returned by Kubeconfig.WriteFile when the file it
// would replace is not a kubeconfig for that one cluster (name and CA).
var ErrForeignKubeconfig = errors.New("the file exists and is not a kubeconfig for this cluster alone")

// WriteFile writes the kubeconfig to path, mode 0600, through a temporary
// file in the same directory and a rename, so a reader never sees half of
// it and the key is never readable by others. An existing file is replaced
// only when it is a kubeconfig for this cluster alone (an earlier one being
// renewed) or when force is set: a kubeconfig that also serves other
// clusters, such as ~/.kube/config, is never dropped by mistake.
func (k *Kubeconfig) WriteFile(path string, force bool) error {
	if !force {
		old, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("writing %s: %w", path, err)
		case !k.sameCluster(old):
			return fmt.Errorf("writing %s: %w", path, ErrForeignKubeconfig)
		}
	}
	return atomicfile.WriteFile(path, k.Data, atomicfile.Options{Mode: 0o600})
}

// sameCluster reports whether data is a kubeconfig whose only cluster is
// k's: the same name and the same CA.
func (k *Kubeconfig) sameCluster(data []byte) bool {
	var doc kubeconfigFile
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind != "Config" || len(doc.Clusters) != 1 {
		return false
	}
	c := doc.Clusters[0]
	return c.Name == k.Cluster && c.Cluster.CertificateAuthorityData == k.caData
}
