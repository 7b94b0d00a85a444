package repo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

func testKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@kiln.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fastClient(srv *rpmtest.Server) *download.Client {
	c := download.New()
	if srv != nil {
		c.HTTP = srv.Client()
	}
	c.Backoff = time.Millisecond
	c.Attempts = 3
	return c
}

func writeRepo(t *testing.T, pkgs []*repo.Package, opts rpmtest.RepoOptions) string {
	t.Helper()
	dir := t.TempDir()
	if err := rpmtest.WriteRepo(dir, pkgs, opts); err != nil {
		t.Fatal(err)
	}
	return dir
}

// expected is what Load should return for pkgs: primary's files, Repo set.
func expected(pkgs []*repo.Package, name string) []*repo.Package {
	out := onlyPrimaryFiles(pkgs)
	for _, p := range out {
		p.Repo = name
	}
	return out
}

func TestLoadCompressions(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 200)
	for _, comp := range []string{"gz", "xz", "zst", "bz2", "none"} {
		t.Run(comp, func(t *testing.T) {
			dir := writeRepo(t, pkgs, rpmtest.RepoOptions{Compression: comp})
			srv := rpmtest.NewServer(t, map[string]string{"r": dir})
			r, err := repo.Load(context.Background(), repo.Source{Name: "test", BaseURLs: []string{srv.URL("r")}},
				repo.Options{CacheDir: t.TempDir(), Client: fastClient(srv)})
			if err != nil {
				t.Fatal(err)
			}
			diffPackages(t, r.Packages, expected(pkgs, "test"))
			if srv.Requests("/r/repodata/*filelists*") != 0 {
				t.Error("Load fetched filelists; only LoadFilelists should")
			}
			if err := r.LoadFilelists(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i, p := range r.Packages {
				if !slices.Equal(p.Files, pkgs[i].Files) {
					t.Fatalf("%s: files after LoadFilelists %q, want %q", p, p.Files, pkgs[i].Files)
				}
			}
		})
	}
}

func TestLoadFileURL(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 20)
	dir := writeRepo(t, pkgs, rpmtest.RepoOptions{Compression: "zst"})
	r, err := repo.Load(context.Background(), repo.Source{Name: "local", BaseURLs: []string{"file://" + dir}},
		repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil)})
	if err != nil {
		t.Fatal(err)
	}
	diffPackages(t, r.Packages, expected(pkgs, "local"))
}

func TestLoadCache(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 50)
	dir := writeRepo(t, pkgs, rpmtest.RepoOptions{})
	srv := rpmtest.NewServer(t, map[string]string{"r": dir})
	cache := t.TempDir()
	load := func() *repo.Repo {
		t.Helper()
		r, err := repo.Load(context.Background(), repo.Source{Name: "c", BaseURLs: []string{srv.URL("r")}}, repo.Options{CacheDir: cache, Client: fastClient(srv)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := load()
	load()
	if n := srv.Requests("/r/repodata/*-primary.xml.gz"); n != 1 {
		t.Errorf("primary fetched %d times over two loads, want 1 (cached)", n)
	}
	if n := srv.Requests("/r/repodata/repomd.xml"); n != 2 {
		t.Errorf("repomd.xml fetched %d times, want 2", n)
	}
	primary, _ := r.Repomd.Find("primary")
	cached := filepath.Join(cache, "repodata", primary.Checksum.Value+"-"+filepath.Base(primary.Location))
	if _, err := os.Stat(cached); err != nil {
		t.Fatalf("cache file: %v", err)
	}
	// A damaged cache entry is noticed and fetched again.
	if err := os.WriteFile(cached, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	diffPackages(t, load().Packages, expected(pkgs, "c"))
	if n := srv.Requests("/r/repodata/*-primary.xml.gz"); n != 2 {
		t.Errorf("primary fetched %d times after damaging the cache, want 2", n)
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "repodata"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".kiln-") {
			t.Errorf("temp file %s left in the cache", e.Name())
		}
	}
}

// TestLoadConcurrentCache runs loads in parallel on one empty cache, as
// two kiln processes would.
func TestLoadConcurrentCache(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(5, 300)
	dir := writeRepo(t, pkgs, rpmtest.RepoOptions{Compression: "xz"})
	srv := rpmtest.NewServer(t, map[string]string{"r": dir})
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := repo.Load(context.Background(), repo.Source{Name: "c", BaseURLs: []string{srv.URL("r")}}, repo.Options{CacheDir: cache, Client: fastClient(srv)})
			if err == nil && len(r.Packages) != len(pkgs) {
				err = errors.New("wrong package count")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "repodata"))
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want exactly the primary file", len(entries))
	}
}

func TestLoadMirrorsAndFaults(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 30)
	dir := writeRepo(t, pkgs, rpmtest.RepoOptions{})
	for _, tc := range []struct {
		name   string
		fault  func(*rpmtest.Server)
		bases  []string // of "good", "bad"
		errIs  error
		errHas string
	}{
		{name: "transient 503s are retried", fault: func(s *rpmtest.Server) { s.FailFirst(2, 503) }, bases: []string{"good"}},
		{name: "dead first mirror", fault: func(s *rpmtest.Server) { s.FailPath("/bad/*", 404); s.FailPath("/bad/*/*", 404) }, bases: []string{"bad", "good"}},
		{name: "truncated primary on first mirror", fault: func(s *rpmtest.Server) { s.Truncate("/bad/repodata/*-primary.xml.gz", 100) }, bases: []string{"bad", "good"}},
		{name: "truncated primary everywhere", fault: func(s *rpmtest.Server) { s.Truncate("/*/repodata/*-primary.xml.gz", 100) }, bases: []string{"bad", "good"}, errHas: "fetching primary metadata"},
		{name: "404 everywhere", fault: func(s *rpmtest.Server) { s.FailPath("/*/repodata/repomd.xml", 404) }, bases: []string{"bad", "good"}, errHas: "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rpmtest.NewServer(t, map[string]string{"good": dir, "bad": dir})
			tc.fault(srv)
			var bases []string
			for _, b := range tc.bases {
				bases = append(bases, srv.URL(b))
			}
			r, err := repo.Load(context.Background(), repo.Source{Name: "m", BaseURLs: bases}, repo.Options{CacheDir: t.TempDir(), Client: fastClient(srv)})
			if tc.errHas != "" || tc.errIs != nil {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || tc.errIs != nil && !errors.Is(err, tc.errIs) {
					t.Fatalf("error %v, want one containing %q", err, tc.errHas)
				}
				if !strings.Contains(err.Error(), `repo "m"`) {
					t.Errorf("error %v does not name the repo", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			diffPackages(t, r.Packages, expected(pkgs, "m"))
		})
	}
}

// mutate copies a written repo and edits its repomd.xml or data files.
func mutate(t *testing.T, src string, edit func(dir string)) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	edit(dst)
	return dst
}

func editFile(t *testing.T, file string, f func(string) string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(f(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejects(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 30)
	good := writeRepo(t, pkgs, rpmtest.RepoOptions{SimpleNames: true})
	for _, tc := range []struct {
		name  string
		edit  func(dir string)
		errIs error
		want  string
	}{
		{"wrong checksum", func(d string) {
			editFile(t, filepath.Join(d, "repodata/primary.xml.gz"), func(s string) string { return s[:len(s)-1] + "x" })
		}, repo.ErrChecksum, "checksum mismatch"},
		{"bigger than size", func(d string) {
			editFile(t, filepath.Join(d, "repodata/repomd.xml"), func(s string) string {
				return regexp.MustCompile(`<size>\d+</size>`).ReplaceAllString(s, "<size>10</size>")
			})
		}, repo.ErrChecksum, "larger than 10 bytes"},
		{"decompression beyond open-size", func(d string) {
			editFile(t, filepath.Join(d, "repodata/repomd.xml"), func(s string) string {
				return regexp.MustCompile(`<open-size>\d+</open-size>`).ReplaceAllString(s, "<open-size>1000</open-size>")
			})
		}, repo.ErrTooLarge, "larger than allowed"},
		{"malformed repomd", func(d string) {
			editFile(t, filepath.Join(d, "repodata/repomd.xml"), func(s string) string { return s[:len(s)/2] })
		}, nil, "repomd.xml"},
		{"no primary", func(d string) {
			editFile(t, filepath.Join(d, "repodata/repomd.xml"), func(s string) string { return strings.Replace(s, `type="primary"`, `type="nope"`, 1) })
		}, nil, "no primary"},
		{"not compressed as named", func(d string) {
			editFile(t, filepath.Join(d, "repodata/repomd.xml"), func(s string) string {
				return strings.ReplaceAll(s, "repodata/primary.xml.gz", "repodata/other.xml")
			})
			os.WriteFile(filepath.Join(d, "repodata/other.xml"), []byte("plain"), 0o644)
		}, repo.ErrChecksum, "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mutate(t, good, tc.edit)
			_, err := repo.Load(context.Background(), repo.Source{Name: "bad", BaseURLs: []string{"file://" + dir}}, repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `repo "bad"`) {
				t.Fatalf("error %v, want one naming the repo and containing %q", err, tc.want)
			}
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Errorf("error %v is not %v", err, tc.errIs)
			}
		})
	}
}

func TestLoadSignature(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 10)
	key, other := testKey(t, "repo"), testKey(t, "other")
	signed := writeRepo(t, pkgs, rpmtest.RepoOptions{SignWith: key})
	unsigned := writeRepo(t, pkgs, rpmtest.RepoOptions{})
	wrongKey := writeRepo(t, pkgs, rpmtest.RepoOptions{SignWith: other})
	tampered := mutate(t, signed, func(d string) {
		editFile(t, filepath.Join(d, "repodata/repomd.xml"), func(s string) string { return strings.Replace(s, "<revision>", "<revision>x", 1) })
	})
	for _, tc := range []struct {
		name   string
		dir    string
		check  bool
		keys   openpgp.EntityList
		errHas string
	}{
		{"signed and checked", signed, true, openpgp.EntityList{key}, ""},
		{"signed, keyring with several keys", signed, true, openpgp.EntityList{other, key}, ""},
		{"unsigned, not checked", unsigned, false, nil, ""},
		{"unsigned but checked", unsigned, true, openpgp.EntityList{key}, "has no repodata/repomd.xml.asc"},
		{"signed by another key", wrongKey, true, openpgp.EntityList{key}, "repomd.xml.asc"},
		{"tampered repomd", tampered, true, openpgp.EntityList{key}, "repomd.xml.asc"},
		{"checked without keys", signed, true, nil, "no gpgkey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rpmtest.NewServer(t, map[string]string{"r": tc.dir})
			_, err := repo.Load(context.Background(), repo.Source{Name: "sig", BaseURLs: []string{srv.URL("r")}, RepoGPGCheck: tc.check, Keys: tc.keys},
				repo.Options{CacheDir: t.TempDir(), Client: fastClient(srv)})
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, repo.ErrSignature) || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), `repo "sig"`) {
				t.Fatalf("error %v, want ErrSignature naming the repo and containing %q", err, tc.errHas)
			}
		})
	}
}

func TestLoadExcludeAndArches(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 60)
	// Give names we can aim at.
	pkgs[10].Name, pkgs[10].Arch = "kernel", "x86_64"
	pkgs[11].Name, pkgs[11].Arch = "kernel-core", "x86_64"
	pkgs[12].Name, pkgs[12].Arch = "kernel", "i686"
	pkgs[13].Name, pkgs[13].EVR.Epoch, pkgs[13].EVR.Version, pkgs[13].EVR.Release = "docker-ce", 3, "27.5.1", "1.el9"
	dir := writeRepo(t, pkgs, rpmtest.RepoOptions{})
	names := func(r *repo.Repo) (out []string) {
		for _, p := range r.Packages {
			if strings.HasPrefix(p.Name, "kernel") || p.Name == "docker-ce" {
				out = append(out, p.Name+"."+p.Arch)
			}
		}
		return out
	}
	all := []string{"kernel.x86_64", "kernel-core.x86_64", "kernel.i686", "docker-ce." + pkgs[13].Arch}
	for _, tc := range []struct {
		name    string
		exclude []string
		arches  []string
		want    []string
	}{
		{"none", nil, nil, all},
		{"exact name, every arch", []string{"kernel"}, nil, []string{all[1], all[3]}},
		{"glob", []string{"kernel*"}, nil, all[3:]},
		{"name.arch", []string{"kernel.i686"}, nil, []string{all[0], all[1], all[3]}},
		{"name-version", []string{"docker-ce-27.5.1"}, nil, all[:3]},
		{"name-epoch:version-release", []string{"docker-ce-3:27.5.1-1.el9"}, nil, all[:3]},
		{"version glob", []string{"docker-ce-27*"}, nil, all[:3]},
		{"other version kept", []string{"docker-ce-26*"}, nil, all},
		{"character class", []string{"kernel-[c]ore"}, nil, []string{all[0], all[2], all[3]}},
		{"arches", nil, []string{"x86_64", "noarch"}, []string{all[0], all[1], all[3]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := repo.Load(context.Background(), repo.Source{Name: "x", BaseURLs: []string{"file://" + dir}, Exclude: tc.exclude},
				repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil), Arches: tc.arches})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("exclude %q arches %q kept %q, want %q", tc.exclude, tc.arches, got, tc.want)
			}
		})
	}
	_, err := repo.Load(context.Background(), repo.Source{Name: "x", BaseURLs: []string{"file://" + dir}, Exclude: []string{"ok", "bad["}},
		repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil)})
	if err == nil || !strings.Contains(err.Error(), "exclude[1]") {
		t.Errorf("bad glob: error %v, want one naming exclude[1]", err)
	}
}

func TestLoadMaxMetadataSize(t *testing.T) {
	pkgs := rpmtest.GenerateDistro(3, 50)
	for _, comp := range []string{"none", "gz"} {
		dir := writeRepo(t, pkgs, rpmtest.RepoOptions{Compression: comp})
		_, err := repo.Load(context.Background(), repo.Source{Name: "cap", BaseURLs: []string{"file://" + dir}},
			repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil), MaxMetadataSize: 4096})
		if !errors.Is(err, repo.ErrTooLarge) {
			t.Errorf("%s: error %v, want ErrTooLarge", comp, err)
		}
	}
}

func TestLoadNeedsNameURLAndCache(t *testing.T) {
	for _, tc := range []struct {
		src  repo.Source
		opts repo.Options
		want string
	}{
		{repo.Source{BaseURLs: []string{"file:///x"}}, repo.Options{CacheDir: "/tmp"}, "name"},
		{repo.Source{Name: "n"}, repo.Options{CacheDir: "/tmp"}, "baseurl"},
		{repo.Source{Name: "n", BaseURLs: []string{"file:///x"}}, repo.Options{}, "cache"},
		{repo.Source{Name: "n", BaseURLs: []string{"ftp://x/"}}, repo.Options{CacheDir: t.TempDir()}, "unsupported URL scheme"},
	} {
		_, err := repo.Load(context.Background(), tc.src, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%+v): error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}
