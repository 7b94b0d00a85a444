// Package resolve turns a profile into the package set it installs: it
// loads every repository's metadata (in parallel, verified, through the
// cache) and runs the solver with the profile's specs, excludes, arch and
// weak-dependency setting. `kiln resolve` prints the result, `kiln lock`
// records it.
//
//	res, err := resolve.Resolve(ctx, profile, resolve.Options{CacheDir: dir})
//	for _, n := range res.NEVRAs() { fmt.Println(n) }
package resolve

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kiln-build/kiln/builder/containerimages"
	"github.com/kiln-build/kiln/builder/nodeimages"
	"github.com/kiln-build/kiln/builder/reposource"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/solve"
	"github.com/kiln-build/kiln/builder/spec"
)

// Options for Resolve.
type Options struct {
	CacheDir string
	Client   *download.Client // nil: download.New()
}

// Resolve loads the profile's repositories and solves its package specs.
func Resolve(ctx context.Context, p *spec.Profile, o Options) (*solve.Result, error) {
	res, _, err := resolve(ctx, p, o)
	return res, err
}

// resolve is Resolve, also returning the sources with the keys it loaded.
func resolve(ctx context.Context, p *spec.Profile, o Options) (*solve.Result, []repo.Source, error) {
	if o.Client == nil {
		o.Client = download.New()
	}
	srcs, err := reposource.Load(ctx, p, o.Client)
	if err != nil {
		return nil, nil, err
	}
	repos := make([]*repo.Repo, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := repo.Load(ctx, s, repo.Options{CacheDir: o.CacheDir, Client: o.Client, Arches: Arches(p.Arch)})
			if err != nil {
				errs[i] = fmt.Errorf("repos[%d] (%s): %w", i, s.Name, err)
			}
			repos[i] = r
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	req := solve.Request{Install: p.Packages, Exclude: p.Exclude, Arch: p.Arch, InstallWeakDeps: p.WeakDeps(), Filelists: filelists(repos)}
	for _, r := range repos {
		req.Repos = append(req.Repos, solve.Repo{Source: r.Source, Packages: r.Packages})
	}
	res, err := solve.Solve(ctx, req)
	return res, srcs, err
}

// Arches are the package architectures a target installs: its own and
// noarch, plus i686 multilib packages when a spec asks for one by arch
// (the solver decides; the loader only drops what can never install).
func Arches(arch string) []string {
	if arch == "x86_64" {
		return []string{"x86_64", "noarch", "i686", "i586", "i486", "i386"}
	}
	return []string{arch, "noarch"}
}

// filelists loads every repository's full file lists, once, when the
// solver finds a file dependency primary metadata does not answer.
type filelists []*repo.Repo

func (f filelists) LoadFilelists(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(f))
	for i, r := range f {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.LoadFilelists(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: loading filelists: %w", r.Source.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Lock resolves the profile, pins every repository's keys, and pins its container
// images: the profile's images[] and, with a kubernetes section, every image derived from
// it and the resolved kubeadm that kubernetes.pullAllowed leaves to first boot. That is
// what `kiln lock` writes.
func Lock(ctx context.Context, p *spec.Profile, o Options) (*lock.Lock, error) {
	res, srcs, err := resolve(ctx, p, o)
	if err != nil {
		return nil, err
	}
	l := lock.New(p, res.Packages)
	if l.Repos, err = reposource.Pin(srcs); err != nil {
		return nil, err
	}
	set, err := nodeimages.ForLock(p, l)
	if err != nil {
		return nil, err
	}
	preload, _ := nodeimages.Sources(p, set)
	for _, s := range preload {
		d, err := containerimages.PinOne(ctx, s.Image, containerimages.Options{})
		if err != nil {
			return nil, fmt.Errorf("pinning images: %s (%s): %w", s.Field, s.Ref, err)
		}
		l.Images = append(l.Images, lock.Image{Ref: s.Ref, Digest: d})
	}
	return l, nil
}
