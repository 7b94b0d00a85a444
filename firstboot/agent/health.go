package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	return &HTTPSHealthChecker{Client: &http.Client{Transport: tr, Timeout: timeout}}, nil
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
