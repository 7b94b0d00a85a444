package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// mirror serves files from memory and counts requests per path.
type mirror struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func newMirror(t *testing.T) *mirror {
	m := &mirror{files: map[string][]byte{}, hits: map[string]int{}}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		b, ok := m.files[r.URL.Path]
		m.hits[r.URL.Path]++
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mirror) put(pkg *repo.Package, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files["/repo/"+pkg.Location] = b
}

func (m *mirror) hitCount(pkg *repo.Package) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits["/repo/"+pkg.Location]
}

func (m *mirror) base() string { return m.URL + "/repo" }

func testClient() *download.Client {
	return &download.Client{HTTP: http.DefaultClient, Attempts: 1, Backoff: time.Millisecond, Timeout: 30 * time.Second}
}

// cacheFiles lists every file (not directory) under dir.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func hello(name string) rpmtest.Package {
	return rpmtest.Package{
		Name: name, Version: "1.0", Release: "1.el9", Arch: "x86_64",
		Files: []rpmtest.File{
			{Path: "/usr/bin/" + name, Mode: 0o755, Content: strings.Repeat("#!/bin/sh\necho "+name+"\n", 200)},
			{Path: "/etc/" + name + ".conf", Content: "x=1\n", Flags: rpmtest.Config},
		},
	}
}

func TestFetch(t *testing.T) {
	keyA, keyB := rpmtest.TestKey(t, "alpha"), rpmtest.TestKey(t, "beta")
	keysA := keyA.PublicKeys()
	both := append(keyB.PublicKeys(), keysA...)
	tests := []struct {
		name     string
		opts     rpmtest.Options
		keys     openpgp.EntityList
		gpgcheck bool
		mutate   func(*repo.Package) // repodata lies
		wantErr  error
	}{
		{name: "v4 signed", opts: rpmtest.Options{Key: keyA}, keys: keysA, gpgcheck: true},
		{name: "v4 with payload signature", opts: rpmtest.Options{Key: keyA, PayloadSignature: true}, keys: keysA, gpgcheck: true},
		{name: "v3 legacy (CentOS 7)", opts: rpmtest.Options{Key: keyA, V3: true, Legacy: true}, keys: keysA, gpgcheck: true},
		{name: "v4 legacy", opts: rpmtest.Options{Key: keyA, Legacy: true}, keys: keysA, gpgcheck: true},
		{name: "v3 modern", opts: rpmtest.Options{Key: keyA, V3: true}, keys: keysA, gpgcheck: true},
		{name: "second of two keys", opts: rpmtest.Options{Key: keyA}, keys: both, gpgcheck: true},
		{name: "unsigned, gpgcheck off", opts: rpmtest.Options{}, gpgcheck: false},
		{name: "unknown key, gpgcheck off", opts: rpmtest.Options{Key: keyB}, keys: keysA, gpgcheck: false},

		{name: "unsigned", opts: rpmtest.Options{}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrUnsigned},
		{name: "unsigned legacy", opts: rpmtest.Options{Legacy: true}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrUnsigned},
		{name: "unknown key", opts: rpmtest.Options{Key: keyB}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrUnknownKey},
		{name: "unknown key v3", opts: rpmtest.Options{Key: keyB, V3: true, Legacy: true}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrUnknownKey},
		{name: "no keys", opts: rpmtest.Options{Key: keyA}, gpgcheck: true, wantErr: fetch.ErrUnknownKey},
		{name: "bad signature v4", opts: rpmtest.Options{Key: keyA, Tamper: rpmtest.TamperSignature}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrBadSignature},
		{name: "bad signature v3", opts: rpmtest.Options{Key: keyA, V3: true, Legacy: true, Tamper: rpmtest.TamperSignature}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrBadSignature},
		{name: "header changed", opts: rpmtest.Options{Key: keyA, Tamper: rpmtest.TamperHeader}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrDigest},
		{name: "header changed, gpgcheck off", opts: rpmtest.Options{Tamper: rpmtest.TamperHeader}, gpgcheck: false, wantErr: fetch.ErrDigest},
		{name: "payload changed", opts: rpmtest.Options{Key: keyA, Tamper: rpmtest.TamperPayload}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrDigest},
		{name: "payload changed legacy", opts: rpmtest.Options{Key: keyA, V3: true, Legacy: true, Tamper: rpmtest.TamperPayload}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrDigest},
		{name: "wrong payload digest, signed", opts: rpmtest.Options{Key: keyA, Tamper: rpmtest.TamperPayloadDigest}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrDigest},
		{name: "wrong header digest", opts: rpmtest.Options{Key: keyA, Tamper: rpmtest.TamperHeaderDigest}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrDigest},
		{name: "wrong header SHA-1 legacy", opts: rpmtest.Options{Legacy: true, Tamper: rpmtest.TamperHeaderDigest}, wantErr: fetch.ErrDigest},
		{name: "wrong MD5 legacy", opts: rpmtest.Options{Legacy: true, Tamper: rpmtest.TamperMD5}, wantErr: fetch.ErrDigest},
		{name: "truncated", opts: rpmtest.Options{Key: keyA, Tamper: rpmtest.TamperTruncate}, keys: keysA, gpgcheck: true, wantErr: fetch.ErrMalformed},
		{name: "checksum mismatch", opts: rpmtest.Options{Key: keyA}, keys: keysA, gpgcheck: true,
			mutate: func(p *repo.Package) { p.Checksum.Value = strings.Repeat("ab", 32) }, wantErr: fetch.ErrChecksum},
		{name: "size mismatch", opts: rpmtest.Options{Key: keyA}, keys: keysA, gpgcheck: true,
			mutate: func(p *repo.Package) { p.Size-- }, wantErr: fetch.ErrChecksum},
		{name: "sha1 checksum mismatch", opts: rpmtest.Options{Key: keyA}, keys: keysA, gpgcheck: true,
			mutate: func(p *repo.Package) { p.Checksum = repo.Checksum{Type: "sha", Value: strings.Repeat("ab", 20)} }, wantErr: fetch.ErrChecksum},
		{name: "identity mismatch", opts: rpmtest.Options{Key: keyA}, keys: keysA, gpgcheck: true,
			mutate: func(p *repo.Package) { p.EVR.Release = "2.el9" }, wantErr: fetch.ErrIdentity},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t)
			fix := hello("pkg" + string(rune('a'+i%26)))
			b, err := fix.Build(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			pkg := fix.RepoPackage(b)
			m.put(pkg, b)
			if tt.mutate != nil {
				tt.mutate(pkg)
			}
			cache := t.TempDir()
			res, err := fetch.Fetch(context.Background(), []fetch.Item{{Package: pkg, BaseURLs: []string{m.base()}, Keys: tt.keys, GPGCheck: tt.gpgcheck}},
				fetch.Options{CacheDir: cache, Client: testClient()})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Fetch error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), pkg.NEVRA()) {
					t.Errorf("error %q does not name %s", err, pkg.NEVRA())
				}
				if left := cacheFiles(t, cache); len(left) > 0 {
					t.Errorf("refused package left files in the cache: %v", left)
				}
				if res[0].Path != "" {
					t.Errorf("failed item has Path %q", res[0].Path)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			want, _ := fetch.CachePath(cache, pkg.Checksum)
			if res[0].Path != want || res[0].Cached {
				t.Errorf("result = %+v, want Path %s, not cached", res[0], want)
			}
			got, err := os.ReadFile(want)
			if err != nil || string(got) != string(b) {
				t.Errorf("cached file differs from the served one (%v)", err)
			}
			if left := cacheFiles(t, cache); len(left) != 1 {
				t.Errorf("cache holds %v, want only %s", left, want)
			}
		})
	}
}

func TestCachePathRejectsHostileChecksums(t *testing.T) {
	for _, c := range []repo.Checksum{
		{Type: "sha256", Value: "../../../../etc/passwd"},
		{Type: "sha256", Value: strings.Repeat("a", 63)},
		{Type: "sha256", Value: strings.Repeat("g", 64)},
		{Type: "md5", Value: strings.Repeat("a", 32)},
		{Type: "../x", Value: strings.Repeat("a", 64)},
		{},
	} {
		if p, err := fetch.CachePath("/cache", c); err == nil {
			t.Errorf("CachePath(%+v) = %s, want an error", c, p)
		}
	}
	p, err := fetch.CachePath("/cache", repo.Checksum{Type: "SHA256", Value: strings.Repeat("AB", 32)})
	if want := "/cache/packages/sha256/" + strings.Repeat("ab", 32) + ".rpm"; err != nil || p != want {
		t.Errorf("CachePath = %s, %v; want %s", p, err, want)
	}
}

func TestMirrors(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("mirrored")
	good := fix.MustBuild(rpmtest.Options{Key: key})
	pkg := fix.RepoPackage(good)
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-10] ^= 0xff
	bad := hello("mirrored")
	refused := bad.MustBuild(rpmtest.Options{Key: key, Tamper: rpmtest.TamperSignature})
	refusedPkg := bad.RepoPackage(refused)

	tests := []struct {
		name       string
		first      []byte // nil: 404
		second     []byte
		pkg        *repo.Package
		wantErr    error
		wantSecond int // requests the second mirror gets
	}{
		{"first corrupt", corrupt, good, pkg, nil, 1},
		{"first missing", nil, good, pkg, nil, 1},
		{"first good", good, good, pkg, nil, 0},
		{"both corrupt", corrupt, corrupt, pkg, fetch.ErrChecksum, 1},
		// A bad signature is in the package itself: no other mirror is tried.
		{"bad signature everywhere", refused, refused, refusedPkg, fetch.ErrBadSignature, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m1, m2 := newMirror(t), newMirror(t)
			if tt.first != nil {
				m1.put(tt.pkg, tt.first)
			}
			m2.put(tt.pkg, tt.second)
			cache := t.TempDir()
			_, err := fetch.Fetch(context.Background(), []fetch.Item{{Package: tt.pkg, BaseURLs: []string{m1.base(), m2.base()}, Keys: key.PublicKeys(), GPGCheck: true}},
				fetch.Options{CacheDir: cache, Client: testClient()})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Fetch error = %v, want %v", err, tt.wantErr)
			}
			if got := m2.hitCount(tt.pkg); got != tt.wantSecond {
				t.Errorf("second mirror got %d requests, want %d", got, tt.wantSecond)
			}
			if tt.wantErr != nil {
				if left := cacheFiles(t, cache); len(left) > 0 {
					t.Errorf("cache not empty: %v", left)
				}
			}
		})
	}
}

func TestLocationBase(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("based")
	b := fix.MustBuild(rpmtest.Options{Key: key})
	pkg := fix.RepoPackage(b)
	m := newMirror(t)
	m.put(pkg, b)
	pkg.LocationBase = m.base()
	_, err := fetch.Fetch(context.Background(), []fetch.Item{{Package: pkg, BaseURLs: []string{"http://127.0.0.1:1/nowhere"}, Keys: key.PublicKeys(), GPGCheck: true}},
		fetch.Options{CacheDir: t.TempDir(), Client: testClient()})
	if err != nil {
		t.Fatalf("Fetch with xml:base: %v", err)
	}
}

type recorder struct {
	mu       sync.Mutex
	last     map[string]int64
	finished map[string]int
	cached   map[string]bool
}

func (r *recorder) Update(p *repo.Package, done, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if total != p.Size {
		panic("total differs from the package size")
	}
	r.last[p.NEVRA()] = done
}

func (r *recorder) Finish(p *repo.Package, cached bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished[p.NEVRA()]++
	r.cached[p.NEVRA()] = cached
}

// TestCache covers a warm cache, a damaged cached file, a cached file that
// a stricter policy refuses, duplicates and progress reports.
func TestCache(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	m := newMirror(t)
	var items []fetch.Item
	for _, name := range []string{"a", "b", "c"} {
		fix := hello(name)
		b := fix.MustBuild(rpmtest.Options{Key: key})
		pkg := fix.RepoPackage(b)
		m.put(pkg, b)
		items = append(items, fetch.Item{Package: pkg, BaseURLs: []string{m.base()}, Keys: key.PublicKeys(), GPGCheck: true})
	}
	items = append(items, items[0]) // the same package twice
	cache := t.TempDir()
	rec := &recorder{last: map[string]int64{}, finished: map[string]int{}, cached: map[string]bool{}}
	opts := fetch.Options{CacheDir: cache, Client: testClient(), Progress: rec, Jobs: 2}

	res, err := fetch.Fetch(context.Background(), items, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Path != res[3].Path || m.hitCount(items[0].Package) != 1 {
		t.Errorf("duplicate item: paths %s, %s; %d downloads", res[0].Path, res[3].Path, m.hitCount(items[0].Package))
	}
	if !res[3].Cached || res[0].Cached {
		t.Errorf("duplicate: first Cached=%v, second Cached=%v; want false, true", res[0].Cached, res[3].Cached)
	}
	for _, it := range items[:3] {
		n := it.Package.NEVRA()
		if rec.last[n] != it.Package.Size {
			t.Errorf("progress for %s ended at %d, want %d", n, rec.last[n], it.Package.Size)
		}
	}
	if rec.finished[items[0].Package.NEVRA()] != 2 || rec.finished[items[1].Package.NEVRA()] != 1 {
		t.Errorf("Finish calls = %v", rec.finished)
	}

	// Warm: nothing is downloaded again.
	res, err = fetch.Fetch(context.Background(), items, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Cached {
			t.Errorf("item %d not served from the cache", i)
		}
	}
	if h := m.hitCount(items[1].Package); h != 1 {
		t.Errorf("warm cache: %d downloads of b, want 1", h)
	}

	// Damaged in the cache: downloaded again and replaced.
	damaged := res[1].Path
	b, _ := os.ReadFile(damaged)
	b[len(b)/2] ^= 1
	os.WriteFile(damaged, b, 0o644)
	res, err = fetch.Fetch(context.Background(), items[1:2], opts)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Cached || m.hitCount(items[1].Package) != 2 {
		t.Errorf("damaged cache file: Cached=%v, downloads=%d; want a new download", res[0].Cached, m.hitCount(items[1].Package))
	}
	if err := fetch.VerifyFile(context.Background(), damaged, items[1].Package, items[1].Keys, true); err != nil {
		t.Errorf("replaced file does not verify: %v", err)
	}

	// Cached under gpgcheck off, then asked for with a key it lacks.
	stranger := rpmtest.TestKey(t, "beta")
	strict := items[2]
	strict.Keys = stranger.PublicKeys()
	_, err = fetch.Fetch(context.Background(), []fetch.Item{strict}, opts)
	if !errors.Is(err, fetch.ErrUnknownKey) {
		t.Errorf("cached package with an unknown key: error = %v, want ErrUnknownKey", err)
	}
	if h := m.hitCount(items[2].Package); h != 1 {
		t.Errorf("refusing a cached package downloaded it again (%d downloads)", h)
	}
	for _, f := range cacheFiles(t, cache) {
		if strings.Contains(filepath.Base(f), ".kiln-") {
			t.Errorf("temp file left behind: %s", f)
		}
	}
}

// TestConcurrentFetch runs two Fetch calls on one cache at once, as two
// kiln processes would.
func TestConcurrentFetch(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	m := newMirror(t)
	var items []fetch.Item
	for _, name := range []string{"c1", "c2", "c3", "c4", "c5", "c6"} {
		fix := hello(name)
		b := fix.MustBuild(rpmtest.Options{Key: key})
		pkg := fix.RepoPackage(b)
		m.put(pkg, b)
		items = append(items, fetch.Item{Package: pkg, BaseURLs: []string{m.base()}, Keys: key.PublicKeys(), GPGCheck: true})
	}
	cache := t.TempDir()
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate clients, as separate processes would have.
			if _, err := fetch.Fetch(context.Background(), items, fetch.Options{CacheDir: cache, Client: testClient(), Jobs: 3}); err != nil {
				t.Error(err)
				failures.Add(1)
			}
		}()
	}
	wg.Wait()
	files := cacheFiles(t, cache)
	if len(files) != len(items) {
		t.Errorf("cache holds %d files, want %d: %v", len(files), len(items), files)
	}
	for _, it := range items {
		p, _ := fetch.CachePath(cache, it.Package.Checksum)
		if err := fetch.VerifyFile(context.Background(), p, it.Package, it.Keys, true); err != nil {
			t.Error(err)
		}
	}
}

func TestCancelled(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("cancelled")
	b := fix.MustBuild(rpmtest.Options{Key: key})
	pkg := fix.RepoPackage(b)
	m := newMirror(t)
	m.put(pkg, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cache := t.TempDir()
	_, err := fetch.Fetch(ctx, []fetch.Item{{Package: pkg, BaseURLs: []string{m.base()}, Keys: key.PublicKeys(), GPGCheck: true}},
		fetch.Options{CacheDir: cache, Client: testClient()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch error = %v, want context.Canceled", err)
	}
	if left := cacheFiles(t, cache); len(left) > 0 {
		t.Errorf("cancelled fetch left %v", left)
	}
}

func TestVerifyFile(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("local")
	dir := t.TempDir()
	tests := []struct {
		name    string
		opts    rpmtest.Options
		pkg     func(*repo.Package)
		wantErr error
	}{
		{"good", rpmtest.Options{Key: key}, nil, nil},
		{"good without repodata checksum", rpmtest.Options{Key: key}, func(p *repo.Package) { p.Checksum = repo.Checksum{}; p.Size = 0 }, nil},
		{"payload changed", rpmtest.Options{Key: key, Tamper: rpmtest.TamperPayload}, func(p *repo.Package) { p.Checksum = repo.Checksum{}; p.Size = 0 }, fetch.ErrDigest},
		{"unsigned", rpmtest.Options{}, nil, fetch.ErrUnsigned},
		{"no repodata at all", rpmtest.Options{Key: key}, func(p *repo.Package) { *p = repo.Package{} }, nil},
		{"repodata checksum differs", rpmtest.Options{Key: key}, func(p *repo.Package) { p.Checksum.Value = strings.Repeat("0", 64) }, fetch.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := fix.WriteFile(dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			pkg := fix.RepoPackage(b)
			if tt.pkg != nil {
				tt.pkg(pkg)
			}
			if pkg.Name == "" {
				pkg = nil // VerifyFile on the file's own merits
			}
			err = fetch.VerifyFile(context.Background(), path, pkg, key.PublicKeys(), true)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifyFile error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestKeyFlags(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("flags")
	path, err := fix.WriteFile(t.TempDir(), rpmtest.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	pkg := fix.RepoPackage(b)
	tests := []struct {
		name    string
		edit    func(valid, sign *bool)
		wantErr error
	}{
		{"signing flag", func(valid, sign *bool) {}, nil},
		{"no key flags (old keys)", func(valid, sign *bool) { *valid = false }, nil},
		{"flags without signing", func(valid, sign *bool) { *sign = false }, fetch.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := key.PublicKeys()
			for _, id := range keys[0].Identities {
				tt.edit(&id.SelfSignature.FlagsValid, &id.SelfSignature.FlagSign)
			}
			err := fetch.VerifyFile(context.Background(), path, pkg, keys, true)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifyFile error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestStaleTempsAndUnsizedPackages(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("stale")
	b := fix.MustBuild(rpmtest.Options{Key: key})
	pkg := fix.RepoPackage(b)
	m := newMirror(t)
	m.put(pkg, b)
	cache := t.TempDir()
	final, _ := fetch.CachePath(cache, pkg.Checksum)
	dir := filepath.Dir(final)
	os.MkdirAll(dir, 0o755)
	old, fresh := filepath.Join(dir, ".a.rpm.kiln-1"), filepath.Join(dir, ".b.rpm.kiln-2")
	os.WriteFile(old, []byte("killed"), 0o644)
	os.WriteFile(fresh, []byte("in progress"), 0o644)
	os.Chtimes(old, time.Now().Add(-48*time.Hour), time.Now().Add(-48*time.Hour))

	pkg.Size = 0 // a lock without sizes still works
	if _, err := fetch.Fetch(context.Background(), []fetch.Item{{Package: pkg, BaseURLs: []string{m.base()}, Keys: key.PublicKeys(), GPGCheck: true}},
		fetch.Options{CacheDir: cache, Client: testClient()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file kept (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temp file (another process's download) was removed: %v", err)
	}
}

// TestManyRefusalsMakeOneShortLine: a refused distribution is reported in
// one line, not one per package joined together (issue 11: 52 KB on
// stderr for 34 refused packages).
func TestManyRefusalsMakeOneShortLine(t *testing.T) {
	m := newMirror(t)
	key := rpmtest.TestKey(t, "alpha")
	var items []fetch.Item
	for i := range 40 {
		fix := hello(fmt.Sprintf("refused%02d", i))
		b, err := fix.Build(rpmtest.Options{Key: key, Tamper: rpmtest.TamperHeaderDigest})
		if err != nil {
			t.Fatal(err)
		}
		pkg := fix.RepoPackage(b)
		m.put(pkg, b)
		items = append(items, fetch.Item{Package: pkg, BaseURLs: []string{m.base()}, Keys: key.PublicKeys(), GPGCheck: true})
	}
	_, err := fetch.Fetch(context.Background(), items, fetch.Options{CacheDir: t.TempDir(), Client: testClient(), Jobs: 1})
	var fe *fetch.Error
	if !errors.As(err, &fe) || len(fe.Failed) != 40 || fe.Total != 40 {
		t.Fatalf("Fetch error = %#v, want a *fetch.Error with 40 failures", err)
	}
	if !errors.Is(err, fetch.ErrDigest) {
		t.Errorf("errors.Is(%v, ErrDigest) = false", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || len(msg) > 300 || !strings.Contains(msg, "40 of 40 failed") || !strings.Contains(msg, "refused00") || !strings.Contains(msg, "and 39 more") {
		t.Errorf("error message (%d bytes) = %q, want one short line naming the count and the first package", len(msg), msg)
	}
	for i, e := range fe.Failed {
		if !strings.Contains(e.Error(), fmt.Sprintf("refused%02d", i)) {
			t.Errorf("failure %d = %v, want it to name its package", i, e)
		}
	}
}

func TestOfflineNeverDownloads(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	p := hello("offline")
	data := p.MustBuild(rpmtest.Options{Key: key})
	pkg := p.RepoPackage(data)
	pkg.Location = "Packages/" + p.FileName()
	m := newMirror(t)
	m.put(pkg, data)
	items := []fetch.Item{{Package: pkg, BaseURLs: []string{m.base()}, Keys: key.PublicKeys(), GPGCheck: true}}
	cache := t.TempDir()
	_, err := fetch.Fetch(context.Background(), items, fetch.Options{CacheDir: cache, Client: testClient(), Offline: true})
	if !errors.Is(err, fetch.ErrNotCached) || m.hitCount(pkg) != 0 {
		t.Fatalf("offline fetch into an empty cache = %v with %d requests, want ErrNotCached and none", err, m.hitCount(pkg))
	}
	if _, err := fetch.Fetch(context.Background(), items, fetch.Options{CacheDir: cache, Client: testClient()}); err != nil {
		t.Fatal(err)
	}
	res, err := fetch.Fetch(context.Background(), items, fetch.Options{CacheDir: cache, Client: testClient(), Offline: true})
	if err != nil || !res[0].Cached || m.hitCount(pkg) != 1 {
		t.Errorf("offline fetch from a filled cache = %+v, %v (%d requests)", res, err, m.hitCount(pkg))
	}
	// A damaged cached file is not replaced from the network offline.
	os.WriteFile(res[0].Path, data[:len(data)/2], 0o644)
	if _, err := fetch.Fetch(context.Background(), items, fetch.Options{CacheDir: cache, Client: testClient(), Offline: true}); !errors.Is(err, fetch.ErrNotCached) || m.hitCount(pkg) != 1 {
		t.Errorf("offline fetch of a damaged file = %v (%d requests)", err, m.hitCount(pkg))
	}
}
