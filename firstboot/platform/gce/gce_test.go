package gce_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/gce"
)

var (
	_ platform.Platform       = (*gce.Platform)(nil)
	_ platform.StatusReporter = (*gce.Platform)(nil)
)

// fakeServer behaves like the metadata server: it refuses requests without
// Metadata-Flavor: Google, echoes the header in answers, serves attributes
// and stores guest attributes. failures answers the first N requests with
// that many 503s.
type fakeServer struct {
	mu           sync.Mutex
	attrs        map[string]string
	guest        map[string]string
	guestEnabled bool
	failures     int
	requests     int
	noFlavor     bool
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing required header", http.StatusForbidden)
		return
	}
	if !s.noFlavor {
		w.Header().Set("Metadata-Flavor", "Google")
	}
	if s.failures > 0 {
		s.failures--
		http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
		return
	}
	const attrs = "/computeMetadata/v1/instance/attributes/"
	const guest = "/computeMetadata/v1/instance/guest-attributes/"
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, attrs):
		v, ok := s.attrs[strings.TrimPrefix(r.URL.Path, attrs)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, v)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, guest):
		if !s.guestEnabled {
			http.Error(w, "Guest attributes endpoint access is disabled.", http.StatusForbidden)
			return
		}
		b, _ := io.ReadAll(r.Body)
		s.guest[strings.TrimPrefix(r.URL.Path, guest)] = string(b)
	default:
		http.NotFound(w, r)
	}
}

func newServer(t *testing.T, s *fakeServer) *gce.Platform {
	t.Helper()
	if s.guest == nil {
		s.guest = map[string]string{}
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return gce.New(gce.Options{BaseURL: srv.URL + "/computeMetadata/v1/", Backoff: time.Millisecond, Attempts: 4})
}

func TestMetadataGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{attrs: map[string]string{"kiln-metadata": string(want)}, failures: 2}
	got, err := newServer(t, s).Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Metadata = %q, want %q", got, want)
	}
	if s.requests != 3 {
		t.Errorf("%d requests, want 3 (two 503s retried)", s.requests)
	}
}

func TestMetadataErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		s        *fakeServer
		noMeta   bool
		badMeta  bool
		requests int
		msg      string
	}{
		{"not set", &fakeServer{attrs: map[string]string{}}, true, false, 1, "attribute not set"},
		{"empty", &fakeServer{attrs: map[string]string{"kiln-metadata": "\n"}}, true, false, 1, "attribute is empty"},
		{"too big", &fakeServer{attrs: map[string]string{"kiln-metadata": strings.Repeat("x", platform.MaxMetadataSize+1)}}, false, true, 1, "over the 1048576 byte limit"},
		{"not the metadata server", &fakeServer{attrs: map[string]string{"kiln-metadata": "x"}, noFlavor: true}, false, false, 1, "not the GCE metadata server"},
		{"always failing", &fakeServer{attrs: map[string]string{}, failures: 100}, false, false, 4, "giving up after 4 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newServer(t, tt.s).Metadata(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Metadata error %v, want one containing %q", err, tt.msg)
			}
			if got := errors.Is(err, platform.ErrNoMetadata); got != tt.noMeta {
				t.Errorf("errors.Is(ErrNoMetadata) = %v, want %v", got, tt.noMeta)
			}
			var bad *platform.BadMetadataError
			if got := errors.As(err, &bad); got != tt.badMeta {
				t.Errorf("errors.As(BadMetadataError) = %v, want %v", got, tt.badMeta)
			}
			if tt.s.requests != tt.requests {
				t.Errorf("%d requests, want %d", tt.s.requests, tt.requests)
			}
		})
	}
}

func TestMetadataConnectionRefusedHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	p := gce.New(gce.Options{BaseURL: url, Backoff: 50 * time.Millisecond, Attempts: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Metadata(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Metadata error %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "connect") {
		t.Errorf("error %q does not carry the last connection error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Metadata took %v after the context expired", d)
	}
}

func TestReportStatus(t *testing.T) {
	ctx := context.Background()
	s := &fakeServer{guestEnabled: true, failures: 1}
	p := newServer(t, s)
	if err := p.ReportStatus(ctx, []byte("{\n  \"phase\": \"kubeadm-init\",\n  \"ok\": true\n}")); err != nil {
		t.Fatal(err)
	}
	if got, want := s.guest["kiln/status"], `{"phase":"kubeadm-init","ok":true}`; got != want {
		t.Errorf("guest attribute kiln/status = %q, want %q", got, want)
	}
	if err := p.ReportStatus(ctx, []byte("phase=init")); err == nil {
		t.Error("ReportStatus accepted non-JSON")
	}

	off := &fakeServer{}
	err := newServer(t, off).ReportStatus(ctx, []byte(`{"phase":"x"}`))
	if !errors.Is(err, platform.ErrNoStatusChannel) || !strings.Contains(err.Error(), "enable-guest-attributes=TRUE") {
		t.Errorf("guest attributes disabled: %v, want ErrNoStatusChannel naming enable-guest-attributes", err)
	}
	if off.requests != 1 {
		t.Errorf("disabled guest attributes retried: %d requests", off.requests)
	}
}
