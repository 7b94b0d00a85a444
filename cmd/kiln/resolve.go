package main

import (
	"errors"
	"fmt"

	"github.com/kiln-build/kiln/builder/resolve"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/spf13/cobra"
)

func newResolveCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "resolve PROFILE",
		Short: "Print the packages a profile installs",
		Long: `Resolve loads the profile's repositories and prints the packages dnf would
install for its package list on an empty system, one name-[epoch:]version-release.arch
a line, sorted. When nothing satisfies the request it exits non-zero with the chain
of dependencies that conflict.`,
		Example: `  kiln resolve rocky9-k8s
  kiln resolve node.yaml -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			res, err := resolve.Resolve(cmd.Context(), p, resolve.Options{CacheDir: g.cacheDir})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd, lock.New(p, res.Packages).Packages)
			}
			for _, n := range res.NEVRAs() {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newLockCommand(g *globals) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "lock PROFILE",
		Short: "Resolve a profile and write its lockfile",
		Long: `Lock resolves the profile and writes PROFILE.lock next to it (NAME.lock in the
current directory for a built-in profile): every package's NEVRA, repository,
location, checksum and size, each container image's digest, and a digest of the
profile settings it came from.
fetch and build use only the lock, and refuse a stale one.`,
		Example: `  kiln lock node.yaml            # writes node.lock
  kiln lock rocky9-k8s --lock prod.lock`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			warnDeprecated(cmd.ErrOrStderr(), p)
			l, err := resolve.Lock(cmd.Context(), p, resolve.Options{CacheDir: g.cacheDir})
			if err != nil {
				return err
			}
			if path == "" {
				path = lock.PathFor(args[0])
			}
			if err := l.WriteFile(path); err != nil {
				return err
			}
			msg := fmt.Sprintf("%s: %d packages", path, len(l.Packages))
			if len(l.Images) > 0 {
				msg += fmt.Sprintf(", %d images pinned", len(l.Images))
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "lock", "", "where to write the lock (default: next to the profile)")
	return cmd
}

func newFetchCommand(g *globals) *cobra.Command {
	var lockPath, output string
	cmd := &cobra.Command{
		Use:   "fetch PROFILE",
		Short: "Download and verify a profile's packages into the cache",
		Long: `Fetch downloads the locked packages (or, without a lock, the resolved ones) in
parallel into the content-addressed cache under --cache-dir. Each file is verified
before it is kept: size and checksum from repodata, header and payload digests,
and the OpenPGP signature by one of the repository's keys where gpgcheck is on.`,
		Example: `  kiln lock node.yaml && kiln fetch node.yaml
  KILN_CACHE_DIR=/srv/kiln-cache kiln fetch rocky9-k8s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			pkgs, err := lockedOrResolved(cmd, g, p, args[0], lockPath)
			if err != nil {
				return err
			}
			client := download.New()
			items, err := resolve.FetchItems(cmd.Context(), p, pkgs, client)
			if err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr(), output == "json")
			prog.count = len(items)
			res, err := fetch.Fetch(cmd.Context(), items, fetch.Options{CacheDir: g.cacheDir, Client: client, Progress: prog.Fetch()})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd, res)
			}
			cached := 0
			for _, r := range res {
				if r.Cached {
					cached++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d packages verified in %s (%d downloaded, %d already cached)\n", len(res), g.cacheDir, len(res)-cached, cached)
			return nil
		},
	}
	cmd.Flags().StringVar(&lockPath, "lock", "", "lockfile (default: next to the profile)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// lockedOrResolved returns the lock's packages when the lock exists (a
// stale one is an error), else resolves.
func lockedOrResolved(cmd *cobra.Command, g *globals, p *spec.Profile, ref, path string) ([]*repo.Package, error) {
	l, err := lockFor(p, ref, path)
	if err == nil {
		var out []*repo.Package
		for _, lp := range l.Packages {
			out = append(out, lp.RepoPackage())
		}
		return out, nil
	}
	var stale *lock.StaleError
	if errors.As(err, &stale) || !isMissingLock(err) {
		return nil, err
	}
	res, err := resolve.Resolve(cmd.Context(), p, resolve.Options{CacheDir: g.cacheDir})
	if err != nil {
		return nil, err
	}
	return res.Packages, nil
}
