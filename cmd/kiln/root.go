package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/firstboot/document"
	"github.com/spf13/cobra"
)

// globals holds the flags every command shares. It lives in the root
// command's closure, not in a package variable.
type globals struct {
	cacheDir string
	output   string // "text" or "json", for commands that print data
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "kiln",
		Short: "Bake immutable Kubernetes node images and deploy them",
		Long: `kiln bakes CentOS-family Kubernetes node images from yum repositories (pinned
container runtime, kubelet, kubeadm, HA static pods, preloaded images) into raw,
qcow2, VMDK/OVA and GCE formats, and deploys them as self-assembling clusters.

Exit status: 0 done; 1 a failure while working (the network, a disk, a tool,
a node), which may pass when tried again; 2 a mistake in what was passed (a
flag, or a profile, lock, node metadata or cluster bundle, named with its file,
line and field), which needs the input fixed; 128+N stopped by signal N.`,
		Example: `  kiln profiles list
  kiln resolve centos-stream9-k8s
  kiln lock my-profile.yaml && kiln fetch my-profile.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.cacheDir, "cache-dir", defaultCacheDir(), "where repository metadata and packages are cached (env KILN_CACHE_DIR)")
	root.AddCommand(
		newVersionCommand(),
		newProfilesCommand(),
		newResolveCommand(g),
		newLockCommand(g),
		newFetchCommand(g),
		newBuildCommand(g),
		newInspectCommand(),
		newClusterCommand(),
		newMetadataCommand(),
		newVSphereCommand(),
		newRunCommand(),
	)
	return root
}

func defaultCacheDir() string {
	if d := os.Getenv("KILN_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kiln")
	}
	return filepath.Join(os.TempDir(), "kiln-cache")
}

// usageError marks a mistake in how kiln was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Exit codes. A user can fix what exits 2 by changing what they passed;
// what exits 1 failed while doing the work (the network, a disk, a tool,
// a node), and may pass when tried again.
const (
	exitFailure   = 1
	exitUserError = 2
)

func exitCode(err error) int {
	if isUserError(err) {
		return exitUserError
	}
	return exitFailure
}

// isUserError: a bad command line, a mistake in a kiln document (profile,
// lock, node metadata, cluster bundle, all reported as a document.Error),
// or a lock that no longer matches its profile or keys.
func isUserError(err error) bool {
	var (
		ue    usageError
		de    *document.Error
		stale *lock.StaleError
		keys  *lock.KeyChangedError
		nokey *lock.NoKeysError
		nolk  *missingLockError
	)
	return errors.As(err, &ue) || errors.As(err, &de) || errors.As(err, &stale) ||
		errors.As(err, &keys) || errors.As(err, &nokey) || errors.As(err, &nolk)
}

// oneLine keeps an error to the single line kiln promises on stderr.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
