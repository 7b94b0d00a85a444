package gce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// DefaultBaseURL is the metadata server's v1 root as seen from an instance.
const DefaultBaseURL = "http://metadata.google.internal/computeMetadata/v1"

// Paths under the base URL.
const (
	MetadataPath = "/instance/attributes/kiln-metadata"
	StatusPath   = "/instance/guest-attributes/kiln/status"
)

// Options configure the GCE platform. The zero value talks to the real
// metadata server with the defaults below.
type Options struct {
	BaseURL  string        // "" = DefaultBaseURL
	HTTP     *http.Client  // nil = a client with no proxy (the metadata server is link-local)
	Attempts int           // tries for transient failures; 0 = 6
	Backoff  time.Duration // first retry delay, doubled each time, with jitter; 0 = 500ms
	Timeout  time.Duration // limit for one attempt; 0 = 10s
}

// Platform reads the kiln-metadata attribute. It implements
// platform.StatusReporter.
type Platform struct {
	base     string
	client   *http.Client
	attempts int
	backoff  time.Duration
	timeout  time.Duration
}

// New returns the GCE platform.
func New(opts Options) *Platform {
	p := &Platform{
		base:     strings.TrimRight(opts.BaseURL, "/"),
		client:   opts.HTTP,
		attempts: opts.Attempts,
		backoff:  opts.Backoff,
		timeout:  opts.Timeout,
	}
	if p.base == "" {
		p.base = DefaultBaseURL
	}
	if p.client == nil {
		// Never send metadata requests through an HTTP proxy from the environment.
		p.client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	if p.attempts <= 0 {
		p.attempts = 6
	}
	if p.backoff <= 0 {
		p.backoff = 500 * time.Millisecond
	}
	if p.timeout <= 0 {
		p.timeout = 10 * time.Second
	}
	return p
}

// Name returns "gce".
func (p *Platform) Name() string { return "gce" }

// Metadata returns the kiln-metadata instance attribute.
func (p *Platform) Metadata(ctx context.Context) ([]byte, error) {
	var md []byte
	err := p.do(ctx, http.MethodGet, p.base+MetadataPath, nil, func(r response) (bool, error) {
		var err error
		md, err = interpretMetadata(r)
		return isTransient(r.code), err
	})
	if err != nil {
		return nil, fmt.Errorf("reading GCE attribute kiln-metadata: %w", err)
	}
	return md, nil
}

// ReportStatus writes statusJSON, on one line, to the guest attribute
// kiln/status.
func (p *Platform) ReportStatus(ctx context.Context, statusJSON []byte) error {
	line, err := platform.CompactStatus(statusJSON)
	if err != nil {
		return fmt.Errorf("reporting status: %w", err)
	}
	err = p.do(ctx, http.MethodPut, p.base+StatusPath, line, func(r response) (bool, error) {
		return isTransient(r.code), interpretStatusPut(r)
	})
	if err != nil {
		return fmt.Errorf("writing GCE guest attribute kiln/status: %w", err)
	}
	return nil
}

// response is what the pure interpreters look at.
type response struct {
	code   int
	flavor string // the Metadata-Flavor response header
	body   []byte
	tooBig bool // the body went over platform.MaxMetadataSize
}

func isTransient(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// interpretMetadata maps a metadata server answer to the metadata or an
// error. Pure, so every answer is tested without a server.
func interpretMetadata(r response) ([]byte, error) {
	switch {
	case r.code == http.StatusNotFound:
		return nil, fmt.Errorf("attribute not set: %w", platform.ErrNoMetadata)
	case r.code != http.StatusOK:
		return nil, fmt.Errorf("metadata server answered %d %s: %s", r.code, http.StatusText(r.code), snippet(r.body))
	case r.flavor != "Google":
		// Something other than the metadata server answered (a captive
		// proxy, a wrong base URL): do not trust it with node secrets.
		return nil, errors.New("answer lacks the header Metadata-Flavor: Google; not the GCE metadata server")
	case r.tooBig:
		return nil, &platform.BadMetadataError{Where: "kiln-metadata", Err: fmt.Errorf("value is over the %d byte limit", platform.MaxMetadataSize)}
	case len(bytes.TrimSpace(r.body)) == 0:
		return nil, fmt.Errorf("attribute is empty: %w", platform.ErrNoMetadata)
	}
	return r.body, nil
}

// interpretStatusPut maps the answer to a guest attribute write.
func interpretStatusPut(r response) error {
	switch r.code {
	case http.StatusOK, http.StatusNoContent:
		return nil
	case http.StatusForbidden, http.StatusNotFound, http.StatusNotImplemented:
		return fmt.Errorf("guest attributes refused (%d %s: %s); enable them with instance metadata enable-guest-attributes=TRUE: %w",
			r.code, http.StatusText(r.code), snippet(r.body), platform.ErrNoStatusChannel)
	}
	return fmt.Errorf("metadata server answered %d %s: %s", r.code, http.StatusText(r.code), snippet(r.body))
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// do sends one request, retrying while interpret says the answer is
// transient or the request did not get an answer at all.
func (p *Platform) do(ctx context.Context, method, url string, body []byte, interpret func(response) (retry bool, err error)) error {
	delay := p.backoff
	var err error
	for i := 0; i < p.attempts; i++ {
		if i > 0 {
			// Jitter keeps a fleet of freshly cloned VMs from retrying in step.
			d := delay/2 + rand.N(delay/2+1)
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			case <-time.After(d):
			}
			delay = min(delay*2, 30*time.Second)
		}
		var r response
		prev := err
		r, err = p.roundTrip(ctx, method, url, body)
		if err != nil {
			if ctx.Err() != nil {
				// Say why the earlier attempts failed: this one only
				// saw the deadline.
				if prev == nil {
					prev = err
				}
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), prev)
			}
			continue // no answer: network not up yet, DNS, reset
		}
		var retry bool
		retry, err = interpret(r)
		if err == nil || !retry {
			return err
		}
	}
	return fmt.Errorf("giving up after %d attempts: %w", p.attempts, err)
}

func (p *Platform) roundTrip(ctx context.Context, method, url string, body []byte) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := p.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, platform.MaxMetadataSize+1))
	if err != nil {
		return response{}, fmt.Errorf("reading answer: %w", err)
	}
	r := response{code: resp.StatusCode, flavor: resp.Header.Get("Metadata-Flavor"), body: b}
	if len(b) > platform.MaxMetadataSize {
		r.body, r.tooBig = nil, true
	}
	return r, nil
}
