package reposource

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/keyring"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/spec"
)

// Load turns the profile's repositories into sources, loading each
// repository's keys from its gpgkey locations (files, file:// or http(s)
// URLs, fetched with client).
func Load(ctx context.Context, p *spec.Profile, client *download.Client) ([]repo.Source, error) {
	var out []repo.Source
	for i, r := range p.Repos {
		src := source(r)
		if len(r.GPGKey) > 0 {
			keys, err := keyring.Load(ctx, r.GPGKey, baseDir(p), client)
			if err != nil {
				return nil, fmt.Errorf("repos[%d] (%s): loading gpgkey: %w", i, r.Name, err)
			}
			src.Keys = keys
		}
		out = append(out, src)
	}
	return out, nil
}

// Pin records each source's keys for the lock.
func Pin(srcs []repo.Source) ([]lock.Repo, error) {
	out := make([]lock.Repo, 0, len(srcs))
	for _, s := range srcs {
		r := lock.Repo{Name: s.Name, Keys: []lock.Key{}}
		for _, e := range s.Keys {
			var b bytes.Buffer
			w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
			if err != nil {
				return nil, err
			}
			if err := e.Serialize(w); err != nil {
				return nil, fmt.Errorf("repo %s: recording key %s: %w", s.Name, Fingerprint(e), err)
			}
			if err := w.Close(); err != nil {
				return nil, err
			}
			b.WriteByte('\n')
			r.Keys = append(r.Keys, lock.Key{Fingerprint: Fingerprint(e), Armored: b.String()})
		}
		out = append(out, r)
	}
	return out, nil
}

// Options for Locked.
type Options struct {
	Client *download.Client // for http(s) gpgkey locations; nil: download.New()
	// Offline leaves the http(s) gpgkey locations alone: their keys are
	// taken from the lock unchecked. Local key files are still compared.
	Offline bool
}

// Locked turns the profile's repositories into sources whose keys are the
// ones the lock pins. Each repository's gpgkey locations are read again
// (only the local files when Offline) and compared with the lock by
// fingerprint: a key that is not the pinned one is a *lock.KeyChangedError,
// and a lock that pins no keys at all a *lock.NoKeysError.
func Locked(ctx context.Context, p *spec.Profile, l *lock.Lock, o Options) ([]repo.Source, error) {
	ref := ProfileRef(p)
	if l.Repos == nil && len(p.Repos) > 0 {
		return nil, &lock.NoKeysError{Profile: ref}
	}
	var out []repo.Source
	for i, r := range p.Repos {
		src := source(r)
		pinned := l.Repo(r.Name)
		if pinned == nil {
			return nil, &lock.KeyChangedError{Profile: ref, Repo: r.Name, Reason: "the lock pins no keys for this repository"}
		}
		locked := map[string]bool{}
		for j, k := range pinned.Keys {
			keys, err := keyring.Parse([]byte(k.Armored))
			if err != nil {
				return nil, fmt.Errorf("the lock's repos (%s): keys[%d]: %w", r.Name, j, err)
			}
			for _, e := range keys {
				if Fingerprint(e) != k.Fingerprint {
					return nil, fmt.Errorf("the lock's repos (%s): keys[%d] holds key %s, not the %s it names; run `kiln lock %s` again", r.Name, j, Fingerprint(e), k.Fingerprint, ref)
				}
			}
			src.Keys = append(src.Keys, keys...)
			locked[k.Fingerprint] = true
		}
		if err := compare(ctx, p, i, r, locked, o); err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// compare reads the repository's gpgkey locations that o allows and
// refuses any key the lock does not pin; online, also a pinned key that is
// no longer there.
func compare(ctx context.Context, p *spec.Profile, i int, r spec.Repo, locked map[string]bool, o Options) error {
	ref := ProfileRef(p)
	now := map[string]bool{}
	for _, loc := range r.GPGKey {
		if o.Offline && isURL(loc) && !strings.HasPrefix(loc, "file://") {
			continue
		}
		keys, err := keyring.Load(ctx, []string{loc}, baseDir(p), o.Client)
		if err != nil {
			return fmt.Errorf("repos[%d] (%s): loading gpgkey to compare with the lock: %w", i, r.Name, err)
		}
		for _, e := range keys {
			fp := Fingerprint(e)
			if !locked[fp] {
				return &lock.KeyChangedError{Profile: ref, Repo: r.Name,
					Reason: fmt.Sprintf("gpg key %s holds key %s, which the lock does not pin (it pins %s)", loc, fp, list(locked))}
			}
			now[fp] = true
		}
	}
	if o.Offline {
		return nil
	}
	for fp := range locked {
		if !now[fp] {
			return &lock.KeyChangedError{Profile: ref, Repo: r.Name,
				Reason: fmt.Sprintf("the lock pins key %s, which its gpgkey locations no longer hold", fp)}
		}
	}
	return nil
}

func list(set map[string]bool) string {
	var s []string
	for k := range set {
		s = append(s, k)
	}
	slices.Sort(s)
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Fingerprint is the upper-case hex fingerprint of e's primary key.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))
}

func source(r spec.Repo) repo.Source {
	return repo.Source{
		Name: r.Name, BaseURLs: r.BaseURL, GPGCheck: r.GPGCheckEnabled(), RepoGPGCheck: r.RepoGPGCheckEnabled(),
		Priority: r.EffectivePriority(), Exclude: r.Exclude,
	}
}

// baseDir is where relative gpgkey paths are taken from: the profile's
// directory.
func baseDir(p *spec.Profile) string {
	if p.Source() != "" && !isBuiltin(p.Source()) {
		return filepath.Dir(p.Source())
	}
	return "."
}

// ProfileRef is how a user names the profile on kiln's command line, for
// the "run `kiln lock REF` again" hints.
func ProfileRef(p *spec.Profile) string {
	switch s := p.Source(); {
	case isBuiltin(s):
		return strings.TrimPrefix(s, "builtin:")
	case s != "":
		return s
	}
	return p.Name
}

func isURL(loc string) bool { return strings.Contains(loc, "://") }

func isBuiltin(source string) bool { return strings.HasPrefix(source, "builtin:") }
