package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

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
qcow2, VMDK/OVA and GCE formats, and deploys them as self-assembling clusters.`,
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

// usageError marks a mistake in how kiln was called; it exits with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// oneLine keeps an error to the single line kiln promises on stderr.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
