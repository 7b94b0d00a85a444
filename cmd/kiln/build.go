package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kiln-build/kiln/builder/build"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/spf13/cobra"
)

func newBuildCommand(g *globals) *cobra.Command {
	var out, output, helpers, lockPath string
	var strictScriptlets, offline bool
	cmd := &cobra.Command{
		Use:   "build PROFILE -o DIR",
		Short: "Build the image files a profile describes from its lock",
		Long: `Build fetches and verifies the locked packages, installs them with the target's
own rpm, customizes the tree, makes it bootable (UEFI and BIOS), writes the raw
disk and every output format the profile lists, then NAME.manifest.json and
NAME.spdx.json and NAME.build.log: rpm's output with every scriptlet's. A
scriptlet that fails is only a warning to rpm; kiln prints one warning line
naming the package for each and lists them in the manifest, and
--strict-scriptlets makes any failed scriptlet fail the build. A deprecated
profile (its deprecated: line, or a parent's: an end-of-life OS) is built
with that line as a warning. It needs root. Nothing is left in DIR when it
fails or is stopped: by Ctrl-C, SIGTERM, SIGHUP (a dropped ssh session) or a closed
pipe on standard output or error (exit 128+the signal's number).

Packages are verified with the keys the lock pins. --offline builds with no
network at all, from a cache filled by kiln fetch --images; it fails with one
line naming the first package or image the cache lacks.

Timestamps come from SOURCE_DATE_EPOCH, or the newest package's build time, so
the same profile and lock give the same bytes.`,
		Example: `  kiln lock node.yaml && sudo kiln build node.yaml -o out/
  SOURCE_DATE_EPOCH=1700000000 sudo kiln build rocky9-k8s -o out/
  sudo kiln build --offline node.yaml -o out/   # after kiln fetch --images node.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{errors.New("-o DIR is required: where the image files go")}
			}
			if err := checkOutPath(out, "directory", "--output json prints the manifest as JSON"); err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output %q: want text or json", output)}
			}
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			warnDeprecated(cmd.ErrOrStderr(), p)
			sde, err := sourceDateEpoch()
			if err != nil {
				return usageError{err}
			}
			l, err := lockFor(p, args[0], lockPath)
			if err != nil {
				return err
			}
			kinit, fb, err := helperBinaries(helpers)
			if err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr(), output == "json")
			prog.count = len(l.Packages)
			m, err := build.Build(cmd.Context(), build.Options{
				Profile: p, Lock: l, CacheDir: g.cacheDir, OutDir: out, KilnInit: kinit, Firstboot: fb,
				SourceDateEpoch: sde, Client: download.New(), Offline: offline, Progress: prog, StrictScriptlets: strictScriptlets,
			})
			if err != nil {
				return err
			}
			for _, f := range m.ScriptletFailures {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s (its output is in %s)\n", f, filepath.Join(out, m.Log))
			}
			if output == "json" {
				return writeJSON(cmd, m)
			}
			for _, o := range m.Outputs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", o.SHA256, filepath.Join(out, o.File))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "output `DIR`, required (a bare json, yaml or text is refused: write ./json)")
	cmd.Flags().StringVar(&output, "output", "text", "output format: text (the outputs' digests) or json (the manifest)")
	cmd.Flags().StringVar(&helpers, "helpers-dir", os.Getenv("KILN_HELPERS_DIR"), "where kiln-init and kiln-firstboot are (default: next to kiln, then /usr/libexec/kiln; env KILN_HELPERS_DIR)")
	cmd.Flags().BoolVar(&strictScriptlets, "strict-scriptlets", false, "fail the build when a package's scriptlet fails (rpm only warns)")
	cmd.Flags().StringVar(&lockPath, "lock", "", "lockfile (default: next to the profile, NAME.lock)")
	cmd.Flags().BoolVar(&offline, "offline", false, "use only the cache (filled by kiln fetch --images) and no network at all")
	return cmd
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH once, at the edge.
func sourceDateEpoch() (*time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// lockFor reads the profile's lock and refuses a stale one.
func lockFor(p *spec.Profile, ref, path string) (*lock.Lock, error) {
	if path == "" {
		path = lock.PathFor(ref)
	}
	l, err := lock.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &missingLockError{path: path, ref: ref}
	}
	if err != nil {
		return nil, err
	}
	if err := l.Check(p, path, ref); err != nil {
		return nil, err
	}
	return l, nil
}

// helperBinaries finds kiln-init and kiln-firstboot: in dir when given,
// else next to the running kiln (make build puts all three in build/bin),
// else in /usr/libexec/kiln.
func helperBinaries(dir string) (kinit, firstboot string, err error) {
	var dirs []string
	if dir != "" {
		dirs = []string{dir}
	} else {
		if exe, err := os.Executable(); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
		dirs = append(dirs, "/usr/libexec/kiln", "/usr/lib/kiln")
	}
	for _, d := range dirs {
		a, b := filepath.Join(d, "kiln-init"), filepath.Join(d, "kiln-firstboot")
		if isFile(a) && isFile(b) {
			return a, b, nil
		}
	}
	return "", "", fmt.Errorf("kiln-init and kiln-firstboot not found in %v; build them with `make build` or set --helpers-dir", dirs)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// missingLockError says the profile has no lock yet.
type missingLockError struct{ path, ref string }

func (e *missingLockError) Error() string {
	return fmt.Sprintf("%s not found: run `kiln lock %s` first (builds use only the lock, so they are reproducible)", e.path, e.ref)
}
