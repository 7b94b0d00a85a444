package resolve

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/keyring"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/spec"
)

// RepoSources turns the profile's repositories into repo stage inputs,
// loading each repository's keys.
func RepoSources(ctx context.Context, p *spec.Profile, client *download.Client) ([]repo.Source, error) {
	base := "."
	if p.Source() != "" && !isBuiltin(p.Source()) {
		base = filepath.Dir(p.Source())
	}
	var out []repo.Source
	for i, r := range p.Repos {
		src := repo.Source{
			Name: r.Name, BaseURLs: r.BaseURL, GPGCheck: r.GPGCheckEnabled(), RepoGPGCheck: r.RepoGPGCheckEnabled(),
			Priority: r.EffectivePriority(), Exclude: r.Exclude,
		}
		if len(r.GPGKey) > 0 {
			keys, err := keyring.Load(ctx, r.GPGKey, base, client)
			if err != nil {
				return nil, fmt.Errorf("repos[%d] (%s): loading gpgkey: %w", i, r.Name, err)
			}
			src.Keys = keys
		}
		out = append(out, src)
	}
	return out, nil
}

func isBuiltin(source string) bool { return len(source) > 8 && source[:8] == "builtin:" }
