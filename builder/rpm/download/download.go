// Package download fetches files from a repository's base URLs: http(s) and
// file URLs, mirrors tried in turn, transient failures retried with
// exponential backoff and jitter, and every attempt bounded by a timeout.
//
// The caller consumes the body in a callback, so it can stream it into a
// temp file and verify it; a callback error moves on to the next mirror.
//
//	c := download.New()
//	err := c.Fetch(ctx, []string{"https://mirror-a/9/BaseOS/x86_64/os/"}, "repodata/repomd.xml",
//		func(r io.Reader) error { _, err := io.Copy(f, r); return err })
package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client downloads with retries. The zero value is not usable; call New.
type Client struct {
	HTTP     *http.Client
	Attempts int           // tries per mirror for transient failures
	Backoff  time.Duration // first retry delay, doubled each time, with jitter
	Timeout  time.Duration // limit for one attempt, body included; 0 = none
}

// New returns a Client with the defaults kiln uses: 4 attempts per mirror,
// 500ms initial backoff, 10 minute per-attempt limit.
func New() *Client {
	return &Client{
		HTTP:     &http.Client{Transport: http.DefaultTransport},
		Attempts: 4,
		Backoff:  500 * time.Millisecond,
		Timeout:  10 * time.Minute,
	}
}

// StatusError is an HTTP answer other than 200.
type StatusError struct {
	URL  string
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// transient reports whether retrying the same URL may help.
func (e *StatusError) transient() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout || e.Code >= 500
}

// Join resolves rel against a base URL the way yum does: the base is a
// directory whether or not it ends in '/'.
func Join(base, rel string) string {
	if strings.Contains(rel, "://") {
		return rel
	}
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(rel, "/")
}

// Fetch gets rel from the first base URL that serves it and passes the body
// to consume. Transient failures (connection errors, 5xx, 429) are retried
// on the same mirror; a 404 or a consume error moves on to the next mirror.
// The error returned names every URL tried.
func (c *Client) Fetch(ctx context.Context, bases []string, rel string, consume func(io.Reader) error) error {
	if len(bases) == 0 {
		return fmt.Errorf("fetching %s: no base URL", rel)
	}
	var errs []error
	for _, base := range bases {
		u := Join(base, rel)
		err := c.fetchOne(ctx, u, consume)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("fetching %s from %d mirrors: %w", rel, len(bases), errors.Join(errs...))
}

func (c *Client) fetchOne(ctx context.Context, u string, consume func(io.Reader) error) error {
	attempts := max(c.Attempts, 1)
	delay := c.Backoff
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			// Full jitter keeps concurrent kiln processes from retrying in step.
			d := delay/2 + rand.N(delay/2+1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
			delay *= 2
		}
		var retry bool
		retry, err = c.attempt(ctx, u, consume)
		if err == nil || !retry {
			return err
		}
	}
	return err
}

// consumeError marks an error returned by the caller's callback.
type consumeError struct{ err error }

func (e consumeError) Error() string { return e.err.Error() }
func (e consumeError) Unwrap() error { return e.err }

func (c *Client) attempt(ctx context.Context, u string, consume func(io.Reader) error) (retry bool, err error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return false, fmt.Errorf("bad URL %q: %w", u, err)
	}
	if parsed.Scheme == "file" {
		f, err := os.Open(filepath.FromSlash(parsed.Path))
		if err != nil {
			return false, err
		}
		defer f.Close()
		if err := consume(f); err != nil {
			return false, fmt.Errorf("%s: %w", u, err)
		}
		return false, nil
	}
	if parsed.Scheme != "http" && parsed.Scheme != "https" {
		return false, fmt.Errorf("%s: unsupported URL scheme %q (want http, https or file)", u, parsed.Scheme)
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("User-Agent", "kiln")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{URL: u, Code: resp.StatusCode}
		return se.transient(), se
	}
	if err := consume(resp.Body); err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("%s: %w", u, ctx.Err())
		}
		var ce consumeError
		if errors.As(err, &ce) {
			return false, fmt.Errorf("%s: %w", u, err)
		}
		// A body that stopped half way is worth another try.
		return isNetError(err), fmt.Errorf("%s: %w", u, err)
	}
	return false, nil
}

// Reject wraps a callback error that no retry on the same mirror can fix,
// such as a checksum mismatch.
func Reject(err error) error { return consumeError{err} }

func isNetError(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}
