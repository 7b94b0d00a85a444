package resolve

import (
	"context"
	"fmt"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/spec"
)

// FetchItems pairs each package with what its repository says about
// getting and trusting it (mirrors, keys, gpgcheck), for fetch.Fetch.
func FetchItems(ctx context.Context, p *spec.Profile, pkgs []*repo.Package, client *download.Client) ([]fetch.Item, error) {
	srcs, err := RepoSources(ctx, p, client)
	if err != nil {
		return nil, err
	}
	byName := map[string]repo.Source{}
	for _, s := range srcs {
		byName[s.Name] = s
	}
	items := make([]fetch.Item, 0, len(pkgs))
	for _, rp := range pkgs {
		s, ok := byName[rp.Repo]
		if !ok {
			return nil, fmt.Errorf("%s comes from repo %q, which the profile does not have; run `kiln lock` again", rp.NEVRA(), rp.Repo)
		}
		items = append(items, fetch.Item{Package: rp, BaseURLs: s.BaseURLs, Keys: s.Keys, GPGCheck: s.GPGCheck})
	}
	return items, nil
}
