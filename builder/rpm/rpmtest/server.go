package rpmtest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server serves repository directories over HTTP for tests, with knobs to
// inject the failures mirrors produce: transient errors, missing files
// and bodies cut short. It counts every request.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	repos     map[string]string // first path segment -> directory
	failFirst int
	failCode  int
	rules     []faultRule
	counts    map[string]int
	total     int
}

type faultRule struct {
	pattern  string // path.Match pattern on the URL path
	code     int    // status to answer, or 0
	truncate int    // bytes of the body to send before cutting, or -1
}

// NewServer starts a server for repos, a map from name to directory:
// repos[name]'s files are served under /name/ (name "" serves at the
// root). The server is closed when the test ends.
func NewServer(t testing.TB, repos map[string]string) *Server {
	s := &Server{repos: repos, counts: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// URL returns the base URL of the named repository, ending in '/'.
func (s *Server) URL(name string) string {
	if name == "" {
		return s.Server.URL + "/"
	}
	return s.Server.URL + "/" + name + "/"
}

// FailFirst makes the next n requests, whatever their path, answer code
// (503 if 0): a mirror having a bad moment.
func (s *Server) FailFirst(n, code int) {
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFirst, s.failCode = n, code
}

// FailPath makes every request whose URL path matches pattern (path.Match
// syntax, e.g. "/base/repodata/*-primary.xml.gz") answer code.
func (s *Server) FailPath(pattern string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, faultRule{pattern: pattern, code: code, truncate: -1})
}

// Truncate makes requests matching pattern announce the full
// Content-Length but send only the first n bytes, then drop the
// connection.
func (s *Server) Truncate(pattern string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, faultRule{pattern: pattern, truncate: n})
}

// Reset removes every fault.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFirst, s.rules = 0, nil
}

// Requests returns how many requests matched pattern (path.Match syntax
// on the URL path); "*" is not enough for nested paths, "" counts all.
func (s *Server) Requests(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pattern == "" {
		return s.total
	}
	n := 0
	for p, c := range s.counts {
		if ok, _ := path.Match(pattern, p); ok {
			n += c
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	s.mu.Lock()
	s.total++
	s.counts[p]++
	code, truncate := 0, -1
	if s.failFirst > 0 {
		s.failFirst--
		code = s.failCode
	}
	for _, r := range s.rules {
		if ok, _ := path.Match(r.pattern, p); ok {
			if r.code != 0 && code == 0 {
				code = r.code
			}
			if r.truncate >= 0 {
				truncate = r.truncate
			}
		}
	}
	s.mu.Unlock()
	if code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	file, ok := s.resolve(p)
	if !ok {
		http.NotFound(w, req)
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if truncate >= 0 && truncate < len(data) {
		w.Write(data[:truncate])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	w.Write(data)
}

// resolve maps a URL path to a regular file inside one of the repos.
func (s *Server) resolve(p string) (string, bool) {
	clean := path.Clean("/" + p)
	name, rest, _ := strings.Cut(strings.TrimPrefix(clean, "/"), "/")
	dir, ok := s.repos[name]
	if !ok {
		dir, ok = s.repos[""]
		rest = strings.TrimPrefix(clean, "/")
	}
	if !ok || rest == "" {
		return "", false
	}
	file := filepath.Join(dir, filepath.FromSlash(rest))
	st, err := os.Stat(file)
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return file, true
}
