package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

// DefaultJobs is how many packages download at once when Options.Jobs is 0.
const DefaultJobs = 6

// Item is one package to fetch, with what its repository says about how to
// get and trust it.
type Item struct {
	Package  *repo.Package
	BaseURLs []string // the repo's mirrors, tried in turn
	Keys     openpgp.EntityList
	GPGCheck bool
}

// Options configures Fetch.
type Options struct {
	// CacheDir is the cache root; packages land in
	// CacheDir/packages/<checksum type>/<hex>.rpm.
	CacheDir string
	Client   *download.Client // nil: download.New()
	Jobs     int              // parallel downloads; 0: DefaultJobs
	Progress Progress         // nil: no reports
	// Offline uses the cache only: a package that is not there (or is
	// damaged) fails with ErrNotCached instead of being downloaded.
	Offline bool
}

// ErrNotCached is wrapped by the error for a package an offline fetch
// did not find in the cache.
var ErrNotCached = errors.New("not in the cache, and fetching offline")

// Progress receives download progress, for the CLI's bars. Calls come from
// several goroutines at once.
type Progress interface {
	// Update says done of total bytes of pkg's file have arrived (a retry
	// or another mirror starts again from 0).
	Update(pkg *repo.Package, done, total int64)
	// Finish says pkg is verified in the cache (err nil; cached when no
	// download was needed) or was refused.
	Finish(pkg *repo.Package, cached bool, err error)
}

// Result is one fetched package.
type Result struct {
	Package *repo.Package
	Path    string // the verified file in the cache
	Cached  bool   // it was already there; nothing was downloaded
}

// CachePath is where a package with checksum c lives under cacheDir. The
// checksum is validated first: it comes from (possibly hostile) repodata
// and becomes a file name.
func CachePath(cacheDir string, c repo.Checksum) (string, error) {
	sum, err := newChecksum(c)
	if err != nil {
		return "", err
	}
	if sum.Hash == nil {
		return "", errors.New("repodata gives no checksum")
	}
	return filepath.Join(cacheDir, "packages", sum.typ, sum.want+".rpm"), nil
}

// Fetch downloads every item's package into the content-addressed cache
// and verifies it, Jobs at a time. A file is streamed into a temp file in
// the cache directory while it is hashed and parsed, and renamed into place
// only after its size and checksum match repodata, its header and payload
// digests match, and (when GPGCheck is on) its OpenPGP signatures verify
// with one of Keys; otherwise nothing is left behind. A size or checksum
// mismatch moves on to the next mirror; a package that is wrong in itself
// (bad digest, unsigned, unknown key, bad signature) is refused at once,
// since every mirror serves the same bytes.
//
// A package already in the cache is re-verified in full (one local read),
// because this call's GPGCheck and Keys may be stricter than the call that
// stored it; a cached file whose checksum no longer matches is replaced.
// Temp file plus rename keeps concurrent kiln processes sharing one cache
// safe: readers only ever see complete, verified files.
//
// Results are in item order. Fetch carries on past a refused package and
// returns the failures together, each naming the package and the reason;
// results of failed items have an empty Path.
func Fetch(ctx context.Context, items []Item, opts Options) ([]Result, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("fetching packages: no cache directory")
	}
	client := opts.Client
	if client == nil {
		client = download.New()
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = DefaultJobs
	}
	results := make([]Result, len(items))
	errs := make([]error, len(items))

	// Items with the same content share one download.
	type job struct {
		path    string
		members []int
	}
	var order []*job
	byPath := map[string]*job{}
	for i, it := range items {
		results[i].Package = it.Package
		if it.Package == nil {
			errs[i] = fmt.Errorf("item %d: no package", i)
			continue
		}
		p, err := CachePath(opts.CacheDir, it.Package.Checksum)
		if err != nil {
			errs[i] = fmt.Errorf("fetching %s: %w", it.Package.NEVRA(), err)
			if opts.Progress != nil {
				opts.Progress.Finish(it.Package, false, errs[i])
			}
			continue
		}
		j := byPath[p]
		if j == nil {
			j = &job{path: p}
			byPath[p] = j
			order = append(order, j)
		}
		j.members = append(j.members, i)
	}

	dirs := map[string]bool{}
	for _, j := range order {
		dirs[filepath.Dir(j.path)] = true
	}
	for d := range dirs {
		removeStaleTemps(d, time.Now().Add(-staleTempAge))
	}
	f := &fetcher{client: client, progress: opts.Progress, offline: opts.Offline}
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for _, j := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, i := range j.members {
					errs[i] = fmt.Errorf("fetching %s: %w", items[i].Package.NEVRA(), ctx.Err())
				}
				return
			}
			defer func() { <-sem }()
			// Every member is verified with its own policy; the first
			// downloads, the others find the file in the cache.
			for _, i := range j.members {
				cached, err := f.one(ctx, items[i], j.path)
				if err != nil {
					errs[i] = err
				} else {
					results[i].Path, results[i].Cached = j.path, cached
				}
				if f.progress != nil {
					f.progress.Finish(items[i].Package, cached, err)
				}
			}
		}()
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return results, &Error{Failed: failed, Total: len(items)}
	}
	return results, nil
}

// Error is what Fetch returns when packages failed: one error per failed
// item, each naming its package and wrapping the reason (ErrChecksum,
// ErrBadSignature...), so errors.Is sees them all. Its message is one
// short line, the first failure and a count, whether one package failed
// or a whole distribution was refused; Options.Progress has been told of
// each failure as it happened.
type Error struct {
	Failed []error
	Total  int // items asked for
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("fetching packages: %d of %d failed: %v", len(e.Failed), e.Total, e.Failed[0])
	if n := len(e.Failed) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

func (e *Error) Unwrap() []error { return e.Failed }

type fetcher struct {
	client   *download.Client
	progress Progress
	offline  bool
}

// one makes sure the item's package is verified at dst, downloading it if
// needed. It reports whether the cached copy was used.
func (f *fetcher) one(ctx context.Context, it Item, dst string) (bool, error) {
	pkg := it.Package
	if _, err := os.Stat(dst); err == nil {
		err := VerifyFile(ctx, dst, pkg, it.Keys, it.GPGCheck)
		if err == nil {
			if f.progress != nil {
				f.progress.Update(pkg, pkg.Size, pkg.Size)
			}
			return true, nil
		}
		if !errors.Is(err, ErrChecksum) {
			return false, err
		}
		if f.offline {
			return false, fmt.Errorf("%w (the cached %s is damaged: %w)", ErrNotCached, dst, err)
		}
		// Damaged in the cache (or a stale name): replace it. Another
		// process may have replaced it already; that is fine too.
		if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("fetching %s: removing damaged cache file: %w", pkg.NEVRA(), err)
		}
	}
	if f.offline {
		return false, fmt.Errorf("fetching %s: %s: %w", pkg.NEVRA(), dst, ErrNotCached)
	}
	return false, f.download(ctx, it, dst)
}

func (f *fetcher) download(ctx context.Context, it Item, dst string) (err error) {
	pkg := it.Package
	fail := func(err error) error { return fmt.Errorf("fetching %s: %w", pkg.NEVRA(), err) }
	// Packages in the cache are public: they are what the mirrors serve.
	tmp, err := atomicfile.Create(dst, atomicfile.Options{Mode: 0o644, MakeDirs: true})
	if err != nil {
		return fail(err)
	}
	defer tmp.Close() // removes it unless committed

	bases, rel := it.BaseURLs, pkg.Location
	if pkg.LocationBase != "" {
		bases = []string{pkg.LocationBase}
	}
	if rel == "" {
		return fail(errors.New("repodata gives no location"))
	}
	var ev *evidence
	var intrinsic error
	err = f.client.Fetch(ctx, bases, rel, func(body io.Reader) error {
		ev, intrinsic = nil, nil
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return download.Reject(err)
		}
		if err := tmp.Truncate(0); err != nil {
			return download.Reject(err)
		}
		sum, err := newChecksum(pkg.Checksum)
		if err != nil {
			return download.Reject(err)
		}
		// Never store more than repodata promises.
		limit := int64(maxUnsized)
		if pkg.Size > 0 {
			limit = pkg.Size
		}
		limited := io.LimitReader(body, limit+1)
		src := &errReader{r: limited}
		out := &progressWriter{w: tmp, p: f.progress, pkg: pkg}
		in := &countingReader{r: src, w: io.MultiWriter(out, sum)}
		e, perr := scan(in)
		if src.err == nil && in.werr == nil {
			_, _ = io.Copy(io.Discard, in) // the checksum covers every byte
		}
		switch {
		case in.werr != nil:
			return download.Reject(fmt.Errorf("writing %s: %w", tmp.Name(), in.werr))
		case src.err != nil:
			return src.err // a network error: the client may retry
		}
		if in.n > limit {
			return download.Reject(fmt.Errorf("more than %d bytes: %w", limit, ErrChecksum))
		}
		if err := checkSum(pkg, in.n, sum); err != nil {
			return download.Reject(err)
		}
		// The bytes are the ones repodata names; what is wrong with them
		// now is wrong on every mirror.
		ev, intrinsic = e, perr
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if intrinsic != nil {
		return fail(intrinsic)
	}
	if err := ev.verify(pkg, it.Keys, it.GPGCheck, time.Now()); err != nil {
		return fail(err)
	}
	if err := tmp.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

const (
	// maxUnsized bounds a download whose size repodata does not give.
	maxUnsized = 16 << 30
	// staleTempAge is how old a temp file in the cache must be before
	// Fetch takes it for the leftover of a killed process and removes it.
	staleTempAge = 24 * time.Hour
)

// removeStaleTemps removes temp files older than before from dir. A temp
// file being written by a live process is newer: writing updates its mtime.
func removeStaleTemps(dir string, before time.Time) {
	matches, _ := filepath.Glob(filepath.Join(dir, atomicfile.TempGlob))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.ModTime().Before(before) {
			os.Remove(m)
		}
	}
}

// errReader remembers the first read error other than EOF: those come from
// the network, not from the package.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

type progressWriter struct {
	w    io.Writer
	p    Progress
	pkg  *repo.Package
	done int64
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.done += int64(n)
	if pw.p != nil {
		pw.p.Update(pw.pkg, pw.done, pw.pkg.Size)
	}
	return n, err
}
