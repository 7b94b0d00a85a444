package certrenew

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/firstboot/config"
)

// Window is how long before the earliest expiry Run renews.
const Window = 30 * 24 * time.Hour

// Files the renewal reads and moves, as the node sees them.
const (
	PKIDir       = "/etc/kubernetes/pki"
	ManifestsDir = "/etc/kubernetes/manifests"
	// ParkDir holds a static pod's manifest while the kubelet stops it.
	ParkDir     = "/etc/kubernetes/kiln-renew"
	KubeletCert = "/var/lib/kubelet/pki/kubelet-client-current.pem"
	// TimerUnit and ServiceUnit are what Units writes under /etc/systemd/system.
	TimerUnit   = "kiln-cert-renew.timer"
	ServiceUnit = "kiln-cert-renew.service"
)

// kubeconfigs are kubeadm's kubeconfigs whose client certificates kubeadm
// certs renew renews.
var kubeconfigs = []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"}

// Node is the part of a node the renewal touches: its files (node paths)
// and commands. *host.Host is one.
type Node interface {
	ReadFile(p string) ([]byte, error)
	WriteFile(p string, data []byte, mode fs.FileMode) error
	Remove(p string) error
	Exists(p string) bool
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Clock tells the time and waits; tests give a fake one.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// Expiry is when a certificate expires and which one it is; it is what
// the node's status reports (config.Status.CertExpiry).
type Expiry = config.CertExpiry

// Earliest returns the expiry of the node's leaf certificate that expires
// first; CA certificates are left out (kubeadm's CAs last ten years and
// `kubeadm certs renew` does not renew them). ok is false when the node
// has no kubeadm certificate yet.
func Earliest(n Node) (e Expiry, ok bool, err error) {
	consider := func(name string, der []byte) {
		c, perr := x509.ParseCertificate(der)
		if perr != nil || c.IsCA {
			return
		}
		if !ok || c.NotAfter.Before(e.NotAfter) {
			e, ok = Expiry{Name: name, NotAfter: c.NotAfter.UTC()}, true
		}
	}
	var files []string
	for _, dir := range []string{PKIDir, PKIDir + "/etcd"} {
		names, derr := listDir(n, dir)
		if derr != nil {
			return e, false, derr
		}
		for _, f := range names {
			if strings.HasSuffix(f, ".crt") {
				files = append(files, path.Join(dir, f))
			}
		}
	}
	files = append(files, KubeletCert)
	for _, f := range files {
		data, rerr := n.ReadFile(f)
		if errors.Is(rerr, fs.ErrNotExist) {
			continue
		} else if rerr != nil {
			return e, false, fmt.Errorf("reading %s: %w", f, rerr)
		}
		for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
			if b.Type == "CERTIFICATE" {
				consider(f, b.Bytes)
			}
		}
	}
	for _, kc := range kubeconfigs {
		f := "/etc/kubernetes/" + kc
		data, rerr := n.ReadFile(f)
		if rerr != nil {
			continue
		}
		var doc struct {
			Users []struct {
				Name string `yaml:"name"`
				User struct {
					Cert string `yaml:"client-certificate-data"`
				} `yaml:"user"`
			} `yaml:"users"`
		}
		if yaml.Unmarshal(data, &doc) != nil {
			continue
		}
		for _, u := range doc.Users {
			pemData, derr := base64.StdEncoding.DecodeString(u.User.Cert)
			if derr != nil {
				continue
			}
			if b, _ := pem.Decode(pemData); b != nil && b.Type == "CERTIFICATE" {
				consider(f+" ("+u.Name+")", b.Bytes)
			}
		}
	}
	return e, ok, nil
}

// listDir lists a node directory's entries through the Node's root when it
// has one (host.Host.Path), else as given.
func listDir(n Node, dir string) ([]string, error) {
	p := dir
	if r, ok := n.(interface{ Path(string) string }); ok {
		p = r.Path(dir)
	}
	ents, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Renewer renews one control plane's certificates.
type Renewer struct {
	Node  Node
	Clock Clock
	// Healthy checks https://HOST:PORT/healthz of this node's API server,
	// trusting the cluster CA.
	Healthy func(ctx context.Context, endpoint string) error
	// Address is this node's API server address (the peer's address).
	Address string
	// Window overrides the package's Window when positive.
	Window time.Duration
	// Pause is how long a manifest stays out of the manifests directory;
	// 0 means 20 s, longer than the kubelet's file check.
	Pause time.Duration
	// WaitAPIServer bounds the wait for the restarted API server; 0 means 5 minutes.
	WaitAPIServer time.Duration
}

// Result is what Run did.
type Result struct {
	Renewed bool    `json:"renewed"`
	Before  *Expiry `json:"before,omitempty"`
	After   *Expiry `json:"after,omitempty"`
}

// restartOrder is the order the static pods restart in: etcd before the
// API server that needs it, the API server before its clients.
var restartOrder = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// Run renews when the earliest expiry is within the window; see the
// package documentation.
func (r Renewer) Run(ctx context.Context) (Result, error) {
	window := r.Window
	if window <= 0 {
		window = Window
	}
	before, ok, err := Earliest(r.Node)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, errors.New("no kubeadm certificate under " + PKIDir + ": is this node a control plane that has joined?")
	}
	res := Result{Before: &before, After: &before}
	if before.NotAfter.Sub(r.Clock.Now()) > window {
		return res, nil
	}
	if _, err := r.Node.Run(ctx, "kubeadm", "certs", "renew", "all"); err != nil {
		return res, fmt.Errorf("renewing the certificates: %w", err)
	}
	res.Renewed = true
	for _, pod := range restartOrder {
		if err := r.restart(ctx, pod); err != nil {
			return res, fmt.Errorf("restarting %s with its new certificates: %w", pod, err)
		}
	}
	if after, ok, err := Earliest(r.Node); err == nil && ok {
		res.After = &after
	}
	return res, nil
}

// restart takes a static pod's manifest away for Pause and puts it back;
// the API server must answer again before the next pod goes.
func (r Renewer) restart(ctx context.Context, pod string) error {
	manifest := ManifestsDir + "/" + pod + ".yaml"
	if !r.Node.Exists(manifest) {
		return nil // e.g. an external etcd
	}
	data, err := r.Node.ReadFile(manifest)
	if err != nil {
		return err
	}
	parked := ParkDir + "/" + pod + ".yaml"
	if err := r.Node.WriteFile(parked, data, 0o600); err != nil {
		return err
	}
	if err := r.Node.Remove(manifest); err != nil {
		return err
	}
	pause := r.Pause
	if pause <= 0 {
		pause = 20 * time.Second
	}
	sleepErr := r.Clock.Sleep(ctx, pause)
	// Put it back even when interrupted: a control plane without its
	// manifest stays down.
	if err := r.Node.WriteFile(manifest, data, 0o600); err != nil {
		return err
	}
	if err := r.Node.Remove(parked); err != nil {
		return err
	}
	if sleepErr != nil {
		return sleepErr
	}
	if pod != "kube-apiserver" || r.Healthy == nil {
		return nil
	}
	bound := r.WaitAPIServer
	if bound <= 0 {
		bound = 5 * time.Minute
	}
	endpoint := net.JoinHostPort(r.Address, "6443")
	deadline := r.Clock.Now().Add(bound)
	for {
		err := r.Healthy(ctx, endpoint)
		if err == nil {
			return nil
		}
		if !r.Clock.Now().Before(deadline) {
			return fmt.Errorf("https://%s/healthz: not after %s: %w", endpoint, bound, err)
		}
		if err := r.Clock.Sleep(ctx, 5*time.Second); err != nil {
			return err
		}
	}
}

// File is a unit file Units returns: a node path, its content and mode.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Units are the timer and service that run the renewal daily on the
// control plane at index (its place in cluster.controlPlane.peers).
func Units(index int) []File {
	at := 3*time.Hour + time.Duration(index)*20*time.Minute
	at %= 24 * time.Hour
	onCalendar := fmt.Sprintf("*-*-* %02d:%02d:00", int(at.Hours()), int(at.Minutes())%60)
	timer := `# Installed by kiln-firstboot on control planes: renews kubeadm's
# certificates when the earliest expires within 30 days. The time is fixed
# by the node's place in the control-plane list (03:00 + 20 min per
# place), so control planes restart their static pods one at a time.
[Unit]
Description=kiln: renew kubeadm certificates before they expire

[Timer]
OnCalendar=` + onCalendar + `
Persistent=true

[Install]
WantedBy=timers.target
`
	service := `# Installed by kiln-firstboot: see ` + TimerUnit + `.
[Unit]
Description=kiln: renew kubeadm certificates and restart the static pods
After=kubelet.service containerd.service

[Service]
Type=oneshot
ExecStart=/usr/bin/kiln-firstboot renew-certs
StandardOutput=journal+console
StandardError=journal+console
`
	return []File{
		{Path: "/etc/systemd/system/" + ServiceUnit, Data: []byte(service), Mode: 0o644},
		{Path: "/etc/systemd/system/" + TimerUnit, Data: []byte(timer), Mode: 0o644},
	}
}
