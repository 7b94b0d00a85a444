package rpmtest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func get(t *testing.T, s *Server, url string) (int, string, error) {
	t.Helper()
	resp, err := s.Client().Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestServer(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(a, "repodata"), 0o755)
	os.WriteFile(filepath.Join(a, "repodata", "repomd.xml"), []byte("0123456789"), 0o644)
	os.WriteFile(filepath.Join(b, "file"), []byte("bee"), 0o644)
	os.WriteFile(filepath.Join(t.TempDir(), "secret"), []byte("no"), 0o644)
	for _, tc := range []struct {
		name     string
		setup    func(*Server)
		url      func(*Server) string
		wantCode int
		wantBody string
		wantErr  bool
	}{
		{"serves a file", nil, func(s *Server) string { return s.URL("a") + "repodata/repomd.xml" }, 200, "0123456789", false},
		{"second repo", nil, func(s *Server) string { return s.URL("b") + "file" }, 200, "bee", false},
		{"missing file", nil, func(s *Server) string { return s.URL("a") + "nope" }, 404, "", false},
		{"unknown repo", nil, func(s *Server) string { return s.URL("c") + "file" }, 404, "", false},
		{"no escape", nil, func(s *Server) string { return s.URL("b") + "../../../etc/passwd" }, 404, "", false},
		{"directory", nil, func(s *Server) string { return s.URL("a") + "repodata" }, 404, "", false},
		{"fail first", func(s *Server) { s.FailFirst(1, 0) }, func(s *Server) string { return s.URL("b") + "file" }, 503, "", false},
		{"fail path", func(s *Server) { s.FailPath("/a/repodata/*.xml", 404) }, func(s *Server) string { return s.URL("a") + "repodata/repomd.xml" }, 404, "", false},
		{"fail path elsewhere", func(s *Server) { s.FailPath("/a/repodata/*.xml", 404) }, func(s *Server) string { return s.URL("b") + "file" }, 200, "bee", false},
		{"truncate", func(s *Server) { s.Truncate("/a/repodata/repomd.xml", 4) }, func(s *Server) string { return s.URL("a") + "repodata/repomd.xml" }, 200, "0123", true},
		{"reset", func(s *Server) { s.FailFirst(5, 500); s.Truncate("/b/*", 1); s.Reset() }, func(s *Server) string { return s.URL("b") + "file" }, 200, "bee", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(t, map[string]string{"a": a, "b": b})
			if tc.setup != nil {
				tc.setup(s)
			}
			code, body, err := get(t, s, tc.url(s))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if code != tc.wantCode || (tc.wantBody != "" && body != tc.wantBody) {
				t.Errorf("got %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
			if s.Requests("") != 1 {
				t.Errorf("counted %d requests, want 1", s.Requests(""))
			}
		})
	}
}

func TestServerCountsAndRoot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644)
	s := NewServer(t, map[string]string{"": dir})
	s.FailFirst(2, http.StatusTooManyRequests)
	var codes []int
	for range 3 {
		code, _, err := get(t, s, s.URL("")+"x")
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	if codes[0] != 429 || codes[1] != 429 || codes[2] != 200 {
		t.Errorf("codes %v, want 429 429 200", codes)
	}
	if n := s.Requests("/x"); n != 3 {
		t.Errorf("Requests(/x) = %d, want 3", n)
	}
	if n := s.Requests("/y"); n != 0 {
		t.Errorf("Requests(/y) = %d, want 0", n)
	}
}
