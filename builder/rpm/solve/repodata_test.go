package solve

import (
	"path/filepath"
	"slices"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// writeRepodata writes dir/repodata for pkgs with the shared test kit, in
// kiln's canonical package order (so libsolv meets them in the order kiln
// does), and returns the primary metadata's path.
func writeRepodata(dir string, pkgs []*repo.Package) (string, error) {
	pkgs = slices.Clone(pkgs)
	slices.SortStableFunc(pkgs, comparePackages)
	if err := rpmtest.WriteRepo(dir, pkgs, rpmtest.RepoOptions{SimpleNames: true}); err != nil {
		return "", err
	}
	return filepath.Join(dir, "repodata", "primary.xml.gz"), nil
}
