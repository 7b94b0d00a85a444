// Package containerimages puts the profile's container images into the image tree
// (/var/lib/kiln/images/*.tar, docker-archive format), where kiln-firstboot
// imports them into containerd, so first boot needs no registry. An image
// comes from an archive on the build host or is pulled from its registry
// (go-containerregistry; credentials from the usual docker config), for the
// target platform, through a cache keyed by digest.
//
//	err := containerimages.Stage(ctx, profile.Images, tree, containerimages.Options{CacheDir: cache})
package containerimages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

// Dir is where images land inside the tree.
const Dir = "/var/lib/kiln/images"

// Options for Stage.
type Options struct {
	// CacheDir keeps pulled images as CacheDir/images/<digest>.tar; empty
	// means no cache.
	CacheDir string
	// Platform to pull; the zero value means linux/amd64.
	Platform v1.Platform
	// ModTime is set on the files written into the tree.
	ModTime time.Time
	// Remote adds options to every registry call (tests pass a transport).
	Remote []remote.Option
	// Pinned maps a reference to the digest the lock recorded for it
	// (sha256:HEX). A pinned image is pulled by that digest, whatever the
	// tag points at now, and an archive must hold exactly that image.
	Pinned map[string]string
	// Offline stages pinned references from the cache only and never asks
	// a registry; an image the cache lacks is a *NotCachedError.
	Offline bool
}

// Pin returns the digest each image has now: for an archive, the digest of
// the image it holds; for a reference, the digest of the image manifest
// its registry serves for the platform. `kiln lock` records them.
func Pin(ctx context.Context, imgs []spec.Image, o Options) ([]string, error) {
	out := make([]string, len(imgs))
	for i, im := range imgs {
		d, err := PinOne(ctx, im, o)
		if err != nil {
			return nil, fmt.Errorf("images[%d] (%s): %w", i, im.Ref, err)
		}
		out[i] = d
	}
	return out, nil
}

// PinOne is Pin for one image.
func PinOne(ctx context.Context, im spec.Image, o Options) (string, error) {
	if o.Platform.OS == "" {
		o.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	var img v1.Image
	var err error
	if im.Archive != "" {
		img, err = tarball.ImageFromPath(im.Archive, nil)
	} else {
		img, err = remoteImage(ctx, im.Ref, o)
	}
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func remoteImage(ctx context.Context, ref string, o Options) (v1.Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("not an image reference: %w", err)
	}
	if pin := o.Pinned[ref]; pin != "" {
		if r, err = name.NewDigest(r.Context().Name() + "@" + pin); err != nil {
			return nil, fmt.Errorf("pinned digest %q: %w", pin, err)
		}
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithPlatform(o.Platform), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, o.Remote...)
	img, err := remote.Image(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("pulling: %w", err)
	}
	return img, nil
}

// FileName is the archive name an image reference gets in the tree.
func FileName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
}

// Stage writes every image into root/var/lib/kiln/images.
func Stage(ctx context.Context, imgs []spec.Image, root string, o Options) error {
	if o.Platform.OS == "" {
		o.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	dir := filepath.Join(root, Dir)
	for i, im := range imgs {
		dst := filepath.Join(dir, FileName(im.Ref))
		var err error
		if im.Archive != "" {
			err = copyArchive(im.Archive, dst, o.Pinned[im.Ref])
		} else {
			err = pull(ctx, im.Ref, dst, o)
		}
		if err == nil && !o.ModTime.IsZero() {
			err = os.Chtimes(dst, o.ModTime, o.ModTime)
		}
		if err != nil {
			return fmt.Errorf("images[%d] (%s): %w", i, im.Ref, err)
		}
	}
	return nil
}

func copyArchive(src, dst, pin string) error {
	// Refuse what containerd could not import: it must read as an image.
	img, err := tarball.ImageFromPath(src, nil)
	if err != nil {
		return fmt.Errorf("%s is not a docker-save image archive: %w", src, err)
	}
	if pin != "" {
		d, err := img.Digest()
		if err != nil {
			return err
		}
		if d.String() != pin {
			return fmt.Errorf("%s holds image %s, but the lock pins %s; run `kiln lock` again if the archive changed on purpose", src, d, pin)
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func pull(ctx context.Context, ref, dst string, o Options) error {
	if cached, err := cachedPath(ref, o); err != nil || cached != "" {
		if err != nil {
			return err
		}
		if _, err := os.Stat(cached); err == nil {
			return copyFile(cached, dst)
		}
	}
	if o.Offline {
		return notCached(ref, o)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("not an image reference: %w", err)
	}
	img, err := remoteImage(ctx, ref, o)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if pin := o.Pinned[ref]; pin != "" && digest.String() != pin {
		return fmt.Errorf("registry served %s for the pinned %s", digest, pin)
	}
	tag := archiveTag(r)
	var cached string
	if o.CacheDir != "" {
		cached = cacheFile(o.CacheDir, digest.Algorithm+"-"+digest.Hex, tag)
		if _, err := os.Stat(cached); err == nil {
			return copyFile(cached, dst)
		}
	}
	write := func(path string) error { return WriteArchive(path, tag, img) }
	if cached == "" {
		return write(dst)
	}
	if err := write(cached); err != nil {
		return err
	}
	return copyFile(cached, dst)
}

// archiveTag is the tag a docker archive names the image by; a digest-only
// reference is recorded under its repository with the tag "kiln".
func archiveTag(r name.Reference) name.Tag {
	tag, ok := r.(name.Tag)
	if !ok {
		tag = r.Context().Tag("kiln")
	}
	return tag
}

func cacheFile(cacheDir, digest string, tag name.Tag) string {
	return filepath.Join(cacheDir, "images", digest+"-"+FileName(tag.String()))
}

// cachedPath is where the cache keeps a pinned reference's archive, known
// without asking its registry; "" when there is no cache or no pin.
func cachedPath(ref string, o Options) (string, error) {
	pin := o.Pinned[ref]
	if o.CacheDir == "" || pin == "" {
		return "", nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("not an image reference: %w", err)
	}
	alg, hex, ok := strings.Cut(pin, ":")
	if !ok || alg == "" || hex == "" || strings.ContainsAny(pin, "/\\") {
		return "", fmt.Errorf("pinned digest %q is not ALGORITHM:HEX", pin)
	}
	return cacheFile(o.CacheDir, alg+"-"+hex, archiveTag(r)), nil
}

// NotCachedError says an offline build needs an image the cache lacks.
type NotCachedError struct {
	Ref, Digest, CacheDir string
}

func (e *NotCachedError) Error() string {
	if e.Digest == "" {
		return fmt.Sprintf("%s is not pinned by the lock, and an offline build cannot ask its registry", e.Ref)
	}
	return fmt.Sprintf("image %s@%s is not in the cache %s", e.Ref, e.Digest, e.CacheDir)
}

func notCached(ref string, o Options) error {
	return &NotCachedError{Ref: ref, Digest: o.Pinned[ref], CacheDir: o.CacheDir}
}

// Fetch makes sure a build can stage every image without a registry: a
// pinned reference is pulled, by its digest, into the cache (unless it is
// there); an archive is read and checked against its pin. With o.Offline
// nothing is pulled, and the first image missing is a *NotCachedError.
// Fetch needs o.CacheDir.
func Fetch(ctx context.Context, imgs []spec.Image, o Options) error {
	if o.CacheDir == "" {
		return errors.New("fetching images: no cache directory")
	}
	if o.Platform.OS == "" {
		o.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	for i, im := range imgs {
		if err := fetchOne(ctx, im, o); err != nil {
			return fmt.Errorf("images[%d] (%s): %w", i, im.Ref, err)
		}
	}
	return nil
}

func fetchOne(ctx context.Context, im spec.Image, o Options) error {
	if im.Archive != "" {
		img, err := tarball.ImageFromPath(im.Archive, nil)
		if err != nil {
			return fmt.Errorf("%s is not a docker-save image archive: %w", im.Archive, err)
		}
		if pin := o.Pinned[im.Ref]; pin != "" {
			d, err := img.Digest()
			if err != nil {
				return err
			}
			if d.String() != pin {
				return fmt.Errorf("%s holds image %s, but the lock pins %s; run `kiln lock` again if the archive changed on purpose", im.Archive, d, pin)
			}
		}
		return nil
	}
	cached, err := cachedPath(im.Ref, o)
	if err != nil {
		return err
	}
	if cached == "" {
		return errors.New("the lock pins no digest for it; run `kiln lock` again")
	}
	if _, err := os.Stat(cached); err == nil {
		return nil
	}
	if o.Offline {
		return notCached(im.Ref, o)
	}
	r, err := name.ParseReference(im.Ref)
	if err != nil {
		return fmt.Errorf("not an image reference: %w", err)
	}
	img, err := remoteImage(ctx, im.Ref, o)
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if d.String() != o.Pinned[im.Ref] {
		return fmt.Errorf("registry served %s for the pinned %s", d, o.Pinned[im.Ref])
	}
	return WriteArchive(cached, archiveTag(r), img)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// WriteArchive writes img as a docker archive named by tag at path, through
// a temporary file in its directory, so a reader never sees half of it.
func WriteArchive(path string, tag name.Tag, img v1.Image) error {
	return writeAtomic(path, func(w io.Writer) error { return tarball.Write(tag, img, w) })
}

// writeAtomic writes through a temp file in dst's directory. Archives are
// not synced one by one, as before: the cache verifies what it reads back
// and a staged tree is thrown away on a crash.
func writeAtomic(dst string, fill func(io.Writer) error) error {
	f, err := atomicfile.Create(dst, atomicfile.Options{Mode: 0o644, MakeDirs: true, NoSync: true})
	if err != nil {
		return err
	}
	defer f.Close()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}
