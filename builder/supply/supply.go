// Package supply fills, and checks, the cache a build draws from, from a
// profile and its lock only: the locked packages, downloaded and verified
// with the keys the lock pins, and the container images the lock pins,
// pulled by digest. `kiln fetch` and `kiln build` both call Locked; with
// Offline it touches no network and names the first package or image the
// cache lacks, so a cache filled where there is network can be carried to
// an air-gapped builder.
//
//	s, err := supply.Locked(ctx, profile, l, supply.Options{CacheDir: cache, Images: true})
//	for _, r := range s.Packages { fmt.Println(r.Path) }
package supply

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kiln-build/kiln/builder/containerimages"
	"github.com/kiln-build/kiln/builder/nodeimages"
	"github.com/kiln-build/kiln/builder/reposource"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
)

// Options for Locked.
type Options struct {
	CacheDir string
	Client   *download.Client // nil: download.New()
	// Offline fetches nothing: every package and pinned image must be in
	// the cache already, and http(s) key locations are not compared with
	// the lock (the lock's keys are used as they are).
	Offline bool
	// Images also fills the cache with the pinned container images the
	// build preloads. Offline, they are always checked.
	Images   bool
	Image    containerimages.Options // platform and registry options for the images; CacheDir, Pinned and Offline are set here
	Progress fetch.Progress          // nil: silent
	Jobs     int                     // parallel downloads; 0: fetch.DefaultJobs
}

// Supplies is what Locked put in (or found in) the cache.
type Supplies struct {
	// Packages are the locked packages, verified in the cache, in lock order.
	Packages []fetch.Result
}

// MissingError says an offline build's cache lacks something: the first
// package, key or image, in lock order.
type MissingError struct {
	What     string // "package" or "image"
	Name     string // NEVRA, or image reference
	CacheDir string
	Profile  string
	Err      error
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("offline: %s %s is not in the cache %s; run `kiln fetch --images %s` where there is network and carry the cache over", e.What, e.Name, e.CacheDir, e.Profile)
}

func (e *MissingError) Unwrap() error { return e.Err }

// Locked makes sure every package of the lock (and, with Images or
// Offline, every image it pins) is in the cache and verified, trusting
// only the keys the lock pins. The lock must be current for the profile
// (lock.Check).
func Locked(ctx context.Context, p *spec.Profile, l *lock.Lock, o Options) (*Supplies, error) {
	if o.CacheDir == "" {
		return nil, errors.New("no cache directory")
	}
	if err := l.Check(p, "the lock", reposource.ProfileRef(p)); err != nil {
		return nil, err
	}
	srcs, err := reposource.Locked(ctx, p, l, reposource.Options{Client: o.Client, Offline: o.Offline})
	if err != nil {
		return nil, err
	}
	items := make([]fetch.Item, 0, len(l.Packages))
	for _, lp := range l.Packages {
		rp := lp.RepoPackage()
		var it *fetch.Item
		for _, s := range srcs {
			if s.Name == rp.Repo {
				it = &fetch.Item{Package: rp, BaseURLs: s.BaseURLs, Keys: s.Keys, GPGCheck: s.GPGCheck}
			}
		}
		if it == nil {
			return nil, fmt.Errorf("%s comes from repo %q, which the profile does not have; run `kiln lock %s` again", rp.NEVRA(), rp.Repo, reposource.ProfileRef(p))
		}
		items = append(items, *it)
	}
	if o.Offline {
		if err := firstMissing(p, items, o.CacheDir); err != nil {
			return nil, err
		}
	}
	res, err := fetch.Fetch(ctx, items, fetch.Options{CacheDir: o.CacheDir, Client: o.Client, Progress: o.Progress, Jobs: o.Jobs, Offline: o.Offline})
	if err != nil {
		return nil, err
	}
	if o.Images || o.Offline {
		if err := fetchImages(ctx, p, l, o); err != nil {
			return nil, err
		}
	}
	return &Supplies{Packages: res}, nil
}

// firstMissing names the first locked package the cache does not hold.
func firstMissing(p *spec.Profile, items []fetch.Item, cacheDir string) error {
	for _, it := range items {
		path, err := fetch.CachePath(cacheDir, it.Package.Checksum)
		if err != nil {
			return fmt.Errorf("%s: %w", it.Package.NEVRA(), err)
		}
		if _, err := os.Stat(path); err != nil {
			return &MissingError{What: "package", Name: it.Package.NEVRA(), CacheDir: cacheDir, Profile: reposource.ProfileRef(p), Err: fetch.ErrNotCached}
		}
	}
	return nil
}

// fetchImages fills the cache with the images the build preloads, the
// same set build derives (nodeimages), by their pinned digests.
func fetchImages(ctx context.Context, p *spec.Profile, l *lock.Lock, o Options) error {
	set, err := nodeimages.ForLock(p, l)
	if err != nil {
		return err
	}
	preload, _ := nodeimages.Sources(p, set)
	if err := nodeimages.Check(preload, l.ImageDigest); err != nil {
		return err
	}
	io := o.Image
	io.CacheDir, io.Offline, io.Pinned = o.CacheDir, o.Offline, Pinned(preload, l)
	err = containerimages.Fetch(ctx, nodeimages.Images(preload), io)
	var nc *containerimages.NotCachedError
	if errors.As(err, &nc) {
		return &MissingError{What: "image", Name: nc.Ref + "@" + nc.Digest, CacheDir: o.CacheDir, Profile: reposource.ProfileRef(p), Err: err}
	}
	if err != nil {
		return fmt.Errorf("fetching images: %w", err)
	}
	return nil
}

// Pinned maps each image to preload to the digest the lock pins for it.
func Pinned(preload []nodeimages.Source, l *lock.Lock) map[string]string {
	pinned := map[string]string{}
	for _, src := range preload {
		if d := l.ImageDigest(src.Ref); d != "" {
			pinned[src.Ref] = d
		}
	}
	return pinned
}
