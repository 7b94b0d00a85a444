package main

import (
	"fmt"

	"github.com/kiln-build/kiln/builder/resolve"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/supply"
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
location, checksum and size, each repository's OpenPGP keys (fingerprint and
armored key), each container image's digest, and a digest of the profile
settings it came from.
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
	var withImages, offline bool
	cmd := &cobra.Command{
		Use:   "fetch PROFILE",
		Short: "Download and verify a profile's locked packages (and images) into the cache",
		Long: `Fetch downloads the locked packages in parallel into the content-addressed
cache under --cache-dir. Each file is verified before it is kept: size and
checksum from the lock, header and payload digests, and the OpenPGP signature
by one of the keys the lock pins for its repository where gpgcheck is on. A
key that changed at its gpgkey location since the lock was written is refused:
check it, then run kiln lock again.

With --images it also pulls every container image the lock pins, by digest,
into the cache: then the cache holds everything kiln build needs, and
kiln build --offline runs from it (carried to an air-gapped builder, say) with
no network. --offline fetches nothing and checks that the cache is complete.`,
		Example: `  kiln lock node.yaml && kiln fetch node.yaml
  kiln fetch --images node.yaml   # everything kiln build --offline needs
  KILN_CACHE_DIR=/srv/kiln-cache kiln fetch --offline node.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			l, err := lockFor(p, args[0], lockPath)
			if err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr(), output == "json")
			prog.count = len(l.Packages)
			s, err := supply.Locked(cmd.Context(), p, l, supply.Options{CacheDir: g.cacheDir, Client: download.New(),
				Offline: offline, Images: withImages, Progress: prog.Fetch()})
			if err != nil {
				return err
			}
			res := s.Packages
			if output == "json" {
				return writeJSON(cmd, res)
			}
			cached := 0
			for _, r := range res {
				if r.Cached {
					cached++
				}
			}
			msg := fmt.Sprintf("%d packages verified in %s (%d downloaded, %d already cached)", len(res), g.cacheDir, len(res)-cached, cached)
			if withImages || offline {
				msg += fmt.Sprintf(", %d images pinned", len(l.Images))
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&lockPath, "lock", "", "lockfile (default: next to the profile)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&withImages, "images", false, "also pull the container images the lock pins into the cache, so kiln build --offline can run from it")
	cmd.Flags().BoolVar(&offline, "offline", false, "fetch nothing: check that the cache holds every locked package and image")
	return cmd
}
