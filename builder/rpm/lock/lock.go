// Package lock reads and writes kiln's lockfile: the exact packages a
// profile resolved to (NEVRA, repo, location, checksum, size) and a digest
// of the profile inputs they were resolved from. `kiln lock` resolves once;
// fetch and build then consume only the lock, so builds are reproducible
// and need no repository metadata.
//
//	l := lock.New(profile, resolved)
//	err := l.WriteFile(lock.PathFor("node.yaml")) // node.lock
package lock

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"github.com/kiln-build/kiln/firstboot/document"
)

// FormatVersion is the lockfile schema version kiln writes and reads.
const FormatVersion = 1

// Lock is the content of a lockfile.
type Lock struct {
	LockVersion int    `json:"lockVersion"`
	Profile     string `json:"profile"`
	Arch        string `json:"arch"`
	// InputsDigest is the sha256 of the profile settings that decide the
	// package set: repos, package specs, excludes, arch, weak deps.
	InputsDigest string    `json:"inputsDigest"`
	Packages     []Package `json:"packages"`
	// Images pins the profile's container images: the digest of the image
	// (for the target platform) each reference named when the lock was made.
	Images []Image `json:"images,omitempty"`
	// Repos pins, for each of the profile's repositories, the OpenPGP keys
	// its packages are verified with, so fetch and build never load a key
	// from its gpgkey location to trust it. A lock without it was written
	// before kiln recorded keys; fetch and build refuse it (NoKeysError).
	Repos []Repo `json:"repos,omitempty"`
}

// Repo is one repository's pinned keys.
type Repo struct {
	Name string `json:"name"`
	Keys []Key  `json:"keys"` // empty when the repository names no gpgkey
}

// Key is one pinned OpenPGP public key.
type Key struct {
	// Fingerprint of the primary key, upper-case hex: what a reviewer
	// compares with the vendor's published one.
	Fingerprint string `json:"fingerprint"`
	// Armored is the public key with its user IDs and subkeys, ASCII-armored.
	Armored string `json:"armored"`
}

// Repo returns the pinned keys of the named repository, or nil.
func (l *Lock) Repo(name string) *Repo {
	for i := range l.Repos {
		if l.Repos[i].Name == name {
			return &l.Repos[i]
		}
	}
	return nil
}

// Image is one pinned container image.
type Image struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"` // sha256:HEX of the image manifest
}

// ImageDigest returns the pinned digest of ref, or "".
func (l *Lock) ImageDigest(ref string) string {
	for _, im := range l.Images {
		if im.Ref == ref {
			return im.Digest
		}
	}
	return ""
}

// Package is one locked package.
type Package struct {
	Name         string `json:"name"`
	Epoch        uint32 `json:"epoch,omitempty"`
	Version      string `json:"version"`
	Release      string `json:"release"`
	Arch         string `json:"arch"`
	Repo         string `json:"repo"`
	Location     string `json:"location"`
	LocationBase string `json:"locationBase,omitempty"`
	Checksum     string `json:"checksum"` // TYPE:HEX, as repodata gives it
	Size         int64  `json:"size"`
	BuildTime    int64  `json:"buildTime,omitempty"`
	License      string `json:"license,omitempty"`
	SourceRPM    string `json:"sourceRpm,omitempty"`
}

// NEVRA returns name-[epoch:]version-release.arch.
func (p Package) NEVRA() string {
	return p.Name + "-" + version.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release}.String() + "." + p.Arch
}

// RepoPackage returns the package in the form the fetch stage takes.
func (p Package) RepoPackage() *repo.Package {
	typ, sum, _ := strings.Cut(p.Checksum, ":")
	return &repo.Package{
		Name: p.Name, Arch: p.Arch, Repo: p.Repo,
		EVR:          version.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
		Location:     p.Location,
		LocationBase: p.LocationBase,
		Checksum:     repo.Checksum{Type: typ, Value: sum},
		Size:         p.Size,
		BuildTime:    p.BuildTime,
		License:      p.License,
		SourceRPM:    p.SourceRPM,
	}
}

// New records a resolved package set for a profile, sorted by NEVRA.
func New(p *spec.Profile, pkgs []*repo.Package) *Lock {
	l := &Lock{LockVersion: FormatVersion, Profile: p.Name, Arch: p.Arch, InputsDigest: InputsDigest(p)}
	for _, rp := range pkgs {
		l.Packages = append(l.Packages, Package{
			Name: rp.Name, Epoch: rp.EVR.Epoch, Version: rp.EVR.Version, Release: rp.EVR.Release, Arch: rp.Arch,
			Repo: rp.Repo, Location: rp.Location, LocationBase: rp.LocationBase,
			Checksum: rp.Checksum.Type + ":" + rp.Checksum.Value, Size: rp.Size,
			BuildTime: rp.BuildTime, License: rp.License, SourceRPM: rp.SourceRPM,
		})
	}
	slices.SortFunc(l.Packages, func(a, b Package) int { return strings.Compare(a.NEVRA(), b.NEVRA()) })
	return l
}

// InputsDigest hashes what decides a profile's package set and pinned
// container images. Other image settings (files, sysctl, disk...) are left
// out: changing them does not make a lock stale.
func InputsDigest(p *spec.Profile) string {
	type repoInput struct {
		Name         string   `json:"name"`
		BaseURL      []string `json:"baseurl"`
		GPGCheck     bool     `json:"gpgcheck"`
		RepoGPGCheck bool     `json:"repoGpgcheck"`
		Priority     int      `json:"priority"`
		Exclude      []string `json:"exclude"`
	}
	in := struct {
		Arch     string      `json:"arch"`
		Repos    []repoInput `json:"repos"`
		Packages []string    `json:"packages"`
		Exclude  []string    `json:"exclude"`
		Weak     bool        `json:"installWeakDeps"`
		Images   []string    `json:"images,omitempty"`
		// The kubernetes section decides the derived images the lock pins.
		Kubernetes *spec.Kubernetes `json:"kubernetes,omitempty"`
	}{Arch: p.Arch, Packages: sorted(p.Packages), Exclude: sorted(p.Exclude), Weak: p.WeakDeps(), Kubernetes: p.Kubernetes}
	for _, im := range p.Images {
		in.Images = append(in.Images, im.Ref)
	}
	in.Images = sorted(in.Images)
	if len(in.Images) == 0 {
		in.Images = nil
	}
	for _, r := range p.Repos {
		in.Repos = append(in.Repos, repoInput{r.Name, r.BaseURL, r.GPGCheckEnabled(), r.RepoGPGCheckEnabled(), r.EffectivePriority(), sorted(r.Exclude)})
	}
	slices.SortFunc(in.Repos, func(a, b repoInput) int { return strings.Compare(a.Name, b.Name) })
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// StaleError says a lock no longer matches its profile.
type StaleError struct {
	File    string
	Profile string
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s is stale: the profile's repos, packages, excludes, images or kubernetes section changed since it was written; run `kiln lock %s` to refresh it", e.File, e.Profile)
}

// Check reports a *StaleError when the lock was made from other inputs
// than the profile's current ones. file and profileRef are for the message.
func (l *Lock) Check(p *spec.Profile, file, profileRef string) error {
	if l.InputsDigest != InputsDigest(p) || l.Arch != p.Arch {
		return &StaleError{File: file, Profile: profileRef}
	}
	return nil
}

// NoKeysError says a lock pins no repository keys: it was written by a
// kiln older than the keys field, so nothing says which keys to trust.
type NoKeysError struct {
	Profile string
}

func (e *NoKeysError) Error() string {
	return fmt.Sprintf("the lock pins no repository keys (it was written by an older kiln); run `kiln lock %s` again", e.Profile)
}

// KeyChangedError says a repository's key is no longer the one the lock
// pins.
type KeyChangedError struct {
	Profile string
	Repo    string
	Reason  string // e.g. "gpg key RPM-GPG-KEY-x has fingerprint A, the lock pins B"
}

func (e *KeyChangedError) Error() string {
	return fmt.Sprintf("repo %s: %s: the key changed since the lock was written; check the new key, then run `kiln lock %s` again", e.Repo, e.Reason, e.Profile)
}

// Marshal returns the lockfile bytes: indented JSON, packages sorted, so
// the file diffs well in review.
func (l *Lock) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Digest is the sha256 of the lock's canonical bytes without its keys; the
// build derives UUIDs and seeds from it and records it in the image. Keys
// decide whether packages are trusted, not what goes into the image: a
// lock re-made only to pin keys (one written before kiln recorded them,
// say) builds the same bytes.
func (l *Lock) Digest() string {
	c := *l
	c.Repos = nil
	b, _ := c.Marshal()
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Parse reads lockfile bytes; name is used in errors.
func Parse(name string, data []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	l := &Lock{}
	if err := dec.Decode(l); err != nil {
		return nil, badLock(name, "", "not a kiln lockfile: %v", err)
	}
	if l.LockVersion != FormatVersion {
		return nil, badLock(name, "lockVersion", "%d is not supported (want %d); run `kiln lock` again", l.LockVersion, FormatVersion)
	}
	for i, im := range l.Images {
		if im.Ref == "" || !strings.HasPrefix(im.Digest, "sha256:") || len(im.Digest) != 71 {
			return nil, badLock(name, fmt.Sprintf("images[%d]", i), "want a ref and a sha256:HEX digest, got %q %q", im.Ref, im.Digest)
		}
	}
	for i, r := range l.Repos {
		if r.Name == "" {
			return nil, badLock(name, fmt.Sprintf("repos[%d].name", i), "required")
		}
		for j, k := range r.Keys {
			if k.Fingerprint == "" || !strings.Contains(k.Armored, "BEGIN PGP PUBLIC KEY BLOCK") {
				return nil, badLock(name, fmt.Sprintf("repos[%d].keys[%d]", i, j), "repo %s: want a fingerprint and an armored public key", r.Name)
			}
		}
	}
	for i, p := range l.Packages {
		typ, sum, ok := strings.Cut(p.Checksum, ":")
		if p.Name == "" || p.Version == "" || p.Arch == "" || p.Location == "" || p.Repo == "" {
			return nil, badLock(name, fmt.Sprintf("packages[%d]", i), "name, version, arch, repo and location are required")
		}
		if !ok || typ == "" || sum == "" {
			return nil, badLock(name, fmt.Sprintf("packages[%d].checksum", i), "%s: %q is not TYPE:HEX", p.NEVRA(), p.Checksum)
		}
		if p.Size < 0 {
			return nil, badLock(name, fmt.Sprintf("packages[%d].size", i), "%s: negative", p.NEVRA())
		}
	}
	return l, nil
}

// badLock is a mistake in a lockfile, as kiln's one user-error type.
func badLock(name, field, format string, args ...any) error {
	return &document.Error{File: name, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ReadFile reads a lockfile. A missing file is reported with
// errors.Is(err, os.ErrNotExist).
func ReadFile(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// WriteFile writes the lock atomically: a temp file in the same directory,
// renamed into place.
func (l *Lock) WriteFile(path string) error {
	data, err := l.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, atomicfile.Options{Mode: 0o644})
}

// PathFor returns where the lock of a profile lives: next to a profile
// file, its name with .lock for .yaml ("node.yaml" → "node.lock"); for a
// built-in profile name, NAME.lock in the current directory.
func PathFor(profileRef string) string {
	ext := filepath.Ext(profileRef)
	if ext == ".yaml" || ext == ".yml" {
		return strings.TrimSuffix(profileRef, ext) + ".lock"
	}
	return profileRef + ".lock"
}
