package repo

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

// Options says where and how Load fetches metadata.
type Options struct {
	// CacheDir is the metadata cache. Files land in CacheDir/repodata,
	// named by checksum, so kiln processes can share it.
	CacheDir string
	// Client downloads; nil means download.New().
	Client *download.Client
	// Arches, when set, keeps only packages of these arches (for example
	// x86_64 and noarch); other packages are dropped while parsing.
	Arches []string
	// MaxMetadataSize bounds decompressed primary or filelists data; the
	// open-size repomd.xml gives bounds it further. 0 means 4 GiB.
	MaxMetadataSize int64
}

const (
	defaultMaxMetadata = 4 << 30
	// maxCompressedSize bounds a download repomd.xml gives no size for.
	maxCompressedSize = 2 << 30
)

// Repo is one repository's loaded metadata.
type Repo struct {
	Source   Source
	Repomd   *Repomd
	BaseURL  string     // the mirror whose repomd.xml was used
	Packages []*Package // binary packages, in primary.xml order, minus excludes

	opts    Options
	mirrors []string // BaseURL first, then the other mirrors

	mu        sync.Mutex
	filelists bool // merged into Packages
}

// Load fetches and verifies repodata/repomd.xml from src's mirrors in turn
// (with its detached signature, when src.RepoGPGCheck is on), then the
// primary metadata through the cache, and returns the repository's
// packages with Repo set to src.Name and src.Exclude applied. Filelists
// are fetched only by LoadFilelists.
func Load(ctx context.Context, src Source, opts Options) (*Repo, error) {
	r, err := load(ctx, src, opts)
	if err != nil {
		return nil, fmt.Errorf("loading repo %q: %w", src.Name, err)
	}
	return r, nil
}

func load(ctx context.Context, src Source, opts Options) (*Repo, error) {
	if src.Name == "" {
		return nil, errors.New("name: empty")
	}
	if len(src.BaseURLs) == 0 {
		return nil, errors.New("baseurl: no URL")
	}
	if opts.CacheDir == "" {
		return nil, errors.New("no metadata cache directory")
	}
	if opts.Client == nil {
		opts.Client = download.New()
	}
	if opts.MaxMetadataSize <= 0 {
		opts.MaxMetadataSize = defaultMaxMetadata
	}
	ex, err := newExcluder(src.Exclude)
	if err != nil {
		return nil, err
	}
	r := &Repo{Source: src, opts: opts}
	if err := r.loadRepomd(ctx); err != nil {
		return nil, err
	}
	primary, ok := r.Repomd.Find("primary")
	if !ok {
		return nil, errors.New("repomd.xml has no primary metadata")
	}
	err = r.parseCached(ctx, primary, func(rd io.Reader) error {
		return ParsePrimary(rd, func(p *Package) error {
			if len(opts.Arches) > 0 && !slices.Contains(opts.Arches, p.Arch) {
				return nil
			}
			if ex.excludes(p) {
				return nil
			}
			p.Repo = src.Name
			r.Packages = append(r.Packages, p)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// loadRepomd fetches repomd.xml, and its signature from the same mirror,
// trying each mirror until one gives a valid pair.
func (r *Repo) loadRepomd(ctx context.Context) error {
	var errs []error
	for i, base := range r.Source.BaseURLs {
		md, err := r.fetchRepomd(ctx, base)
		if err == nil {
			r.Repomd, r.BaseURL = md, base
			r.mirrors = append([]string{base}, slices.Delete(slices.Clone(r.Source.BaseURLs), i, i+1)...)
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
	return fmt.Errorf("no mirror gave valid metadata: %w", errors.Join(errs...))
}

func (r *Repo) fetchRepomd(ctx context.Context, base string) (*Repomd, error) {
	raw, err := r.fetchSmall(ctx, base, "repodata/repomd.xml")
	if err != nil {
		return nil, err
	}
	if r.Source.RepoGPGCheck {
		sig, err := r.fetchSmall(ctx, base, "repodata/repomd.xml.asc")
		if err != nil {
			var se *download.StatusError
			if errors.As(err, &se) && se.Code == 404 || errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: %s has no repodata/repomd.xml.asc", ErrSignature, base)
			}
			return nil, err
		}
		if err := verifyRepomd(r.Source.Keys, raw, sig); err != nil {
			return nil, fmt.Errorf("%s: %w", base, err)
		}
	}
	md, err := ParseRepomd(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	return md, nil
}

// fetchSmall reads a file of at most maxRepomdSize bytes into memory.
func (r *Repo) fetchSmall(ctx context.Context, base, rel string) ([]byte, error) {
	var data []byte
	err := r.opts.Client.Fetch(ctx, []string{base}, rel, func(body io.Reader) error {
		var err error
		data, err = io.ReadAll(io.LimitReader(body, maxRepomdSize+1))
		if err != nil {
			return err
		}
		if len(data) > maxRepomdSize {
			return download.Reject(fmt.Errorf("%s is larger than %d bytes", rel, maxRepomdSize))
		}
		return nil
	})
	return data, err
}

// LoadFilelists fetches the repository's filelists and replaces each
// package's Files (primary's subset) with its full list of paths. The
// solver calls it only when a file dependency is not satisfied by
// primary's entries (see InPrimary). Calling it again does nothing.
func (r *Repo) LoadFilelists(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.filelists {
		return nil
	}
	d, ok := r.Repomd.Find("filelists")
	if !ok {
		return fmt.Errorf("loading filelists of repo %q: repomd.xml has no filelists metadata", r.Source.Name)
	}
	byID := make(map[string][]*Package, len(r.Packages))
	for _, p := range r.Packages {
		byID[p.Checksum.Value] = append(byID[p.Checksum.Value], p)
	}
	err := r.parseCached(ctx, d, func(rd io.Reader) error {
		return ParseFilelists(rd, func(fl *FileList) error {
			for _, p := range byID[fl.PkgID] {
				if p.Name == fl.Name && p.Arch == fl.Arch {
					p.Files = fl.Files
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("loading filelists of repo %q: %w", r.Source.Name, err)
	}
	r.filelists = true
	return nil
}

// parseCached makes sure the metadata file d is in the cache, verified,
// and hands its decompressed content to parse.
func (r *Repo) parseCached(ctx context.Context, d RepomdData, parse func(io.Reader) error) error {
	file, err := r.cached(ctx, d)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	limit := r.opts.MaxMetadataSize
	if d.OpenSize > 0 {
		limit = min(limit, d.OpenSize)
	}
	rd, err := decompress(f, d.Location, limit)
	if err != nil {
		return err
	}
	defer rd.Close()
	return parse(rd)
}

// cached returns the path of d's file in the cache, downloading it first
// when it is missing or does not match its checksum. The file name is
// CHECKSUM-BASENAME; a download goes to a temp file in the same directory,
// is verified, then renamed, so no reader ever sees a partial file.
func (r *Repo) cached(ctx context.Context, d RepomdData) (string, error) {
	base := path.Base(d.Location)
	if base == "." || base == "/" || base == ".." || strings.ContainsAny(base, `\`) {
		return "", fmt.Errorf("%s metadata: bad location %q", d.Type, short(d.Location))
	}
	dir := filepath.Join(r.opts.CacheDir, "repodata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("metadata cache: %w", err)
	}
	final := filepath.Join(dir, d.Checksum.Value+"-"+base)
	if ok, err := fileMatches(final, d.Checksum); err != nil {
		return "", fmt.Errorf("metadata cache: %w", err)
	} else if ok {
		return final, nil
	}
	// Other users sharing the cache may read it; it is public metadata.
	tmp, err := atomicfile.Create(final, atomicfile.Options{Mode: 0o644})
	if err != nil {
		return "", fmt.Errorf("metadata cache: %w", err)
	}
	defer tmp.Close() // removes it unless committed
	limit := int64(maxCompressedSize)
	if d.Size > 0 {
		limit = d.Size
	}
	mirrors := r.mirrors
	if d.LocationBase != "" {
		mirrors = []string{d.LocationBase}
	}
	err = r.opts.Client.Fetch(ctx, mirrors, d.Location, func(body io.Reader) error {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return download.Reject(err)
		}
		if err := tmp.Truncate(0); err != nil {
			return download.Reject(err)
		}
		h, _ := hashFor(d.Checksum.Type)
		n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, limit+1))
		if err != nil {
			return err
		}
		if n > limit {
			return download.Reject(fmt.Errorf("%w: %s is larger than %d bytes", ErrChecksum, d.Location, limit))
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != d.Checksum.Value {
			return download.Reject(fmt.Errorf("%w: %s has %s %s, repomd.xml says %s", ErrChecksum, d.Location, d.Checksum.Type, got, d.Checksum.Value))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("fetching %s metadata: %w", d.Type, err)
	}
	if err := tmp.Commit(); err != nil {
		return "", fmt.Errorf("metadata cache: %w", err)
	}
	return final, nil
}

// ErrChecksum marks downloaded metadata that does not match repomd.xml.
var ErrChecksum = errors.New("metadata checksum mismatch")

// fileMatches reports whether path exists with the wanted checksum. A
// cached file that does not match is removed.
func fileMatches(path string, want Checksum) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	h, _ := hashFor(want.Type)
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	wantSum, _ := hex.DecodeString(want.Value)
	if subtle.ConstantTimeCompare(h.Sum(nil), wantSum) == 1 {
		return true, nil
	}
	f.Close()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return false, nil
}
