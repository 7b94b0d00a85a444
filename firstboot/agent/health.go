package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HealthChecker asks a Kubernetes API server whether it is healthy.
type HealthChecker interface {
	// Healthy returns nil when GET https://endpoint/healthz answers 200 ok.
	// endpoint is HOST:PORT.
	Healthy(ctx context.Context, endpoint string) error
}

// HTTPSHealthChecker probes /healthz over TLS, trusting only the cluster CA
// (which the node knows from its metadata), so a stray server on the VIP
// cannot pass for the cluster.
type HTTPSHealthChecker struct {
	Client *http.Client
	// ports are the API server's, etcd's peer and the kubelet's, as Probe
	// tries them (tests move them).
	ports [3]int
}

// NewHTTPSHealthChecker returns a checker that trusts the PEM CA
// certificate caPEM and gives each probe timeout.
func NewHTTPSHealthChecker(caPEM string, timeout time.Duration) (*HTTPSHealthChecker, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("cluster.secrets.kubernetesCA.cert: no certificate to trust")
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy:             nil, // the API server is on the node's own network
		DisableKeepAlives: true,
	}
	return &HTTPSHealthChecker{Client: &http.Client{Transport: tr, Timeout: timeout}, ports: [3]int{apiServerPort, etcdPeerPort, kubeletPort}}, nil
}

// Healthy implements HealthChecker.
func (c *HTTPSHealthChecker) Healthy(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+endpoint+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("https://%s/healthz: %s %q", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// PeerState is what a probe of another control plane found, as evidence
// for or against a cluster already existing.
type PeerState int

const (
	// PeerUnreachable: nothing answered, not even a refusal. The machine
	// is off, still booting, or cut off from this one; it says nothing
	// about whether a cluster exists.
	PeerUnreachable PeerState = iota
	// PeerIdle: the machine answers and runs nothing of a cluster: its API
	// server, etcd peer and kubelet ports all refuse connections. So does
	// a control plane waiting to join a cluster that is not there yet.
	PeerIdle
	// PeerMember: part of a cluster runs there (etcd's peer port or the
	// kubelet accepts connections), though its API server did not pass
	// the check.
	PeerMember
	// PeerServing: its API server passed /healthz with a certificate from
	// this cluster's CA.
	PeerServing
)

func (s PeerState) String() string {
	switch s {
	case PeerIdle:
		return "runs no cluster"
	case PeerMember:
		return "runs part of a cluster"
	case PeerServing:
		return "serves the cluster's API"
	}
	return "does not answer"
}

// PeerProber tells what runs on another control plane. A HealthChecker
// that is not one makes the agent decide on /healthz alone.
type PeerProber interface {
	Probe(ctx context.Context, host string) PeerState
}

// Ports a control plane of a cluster listens on, besides the API server's.
const (
	etcdPeerPort = 2380
	kubeletPort  = 10250
)

// Probe implements PeerProber: the API server's /healthz (trusting only
// the cluster CA), then TCP connections to etcd's peer port and the
// kubelet's. A refused connection is an answer; a timeout is not.
func (c *HTTPSHealthChecker) Probe(ctx context.Context, host string) PeerState {
	ports := c.ports
	if ports == [3]int{} {
		ports = [3]int{apiServerPort, etcdPeerPort, kubeletPort}
	}
	if c.Healthy(ctx, net.JoinHostPort(host, strconv.Itoa(ports[0]))) == nil {
		return PeerServing
	}
	timeout := c.Client.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	refused := 0
	for i, p := range ports {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			conn.Close()
			if i > 0 {
				return PeerMember
			}
			continue // listening, but not a healthy API server of this cluster
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			refused++
		}
	}
	if refused == len(ports) {
		return PeerIdle
	}
	if refused > 0 {
		// The host answers; the API server port listened but failed the
		// check, or a port was filtered: something runs there.
		return PeerMember
	}
	return PeerUnreachable
}
