package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/cluster"
)

// runInto runs kiln with its standard output on the file f, as a shell's
// `> FILE` does.
func runInto(t *testing.T, f *os.File, args ...string) error {
	t.Helper()
	cmd := newRootCommand()
	cmd.SetOut(f)
	cmd.SetErr(new(strings.Builder))
	cmd.SetArgs(args)
	return cmd.ExecuteContext(context.Background())
}

// `kiln metadata --node m1 > m1.yaml` made m1.yaml with the shell's
// umask, 0644: four private keys anyone could read. A command that prints
// secrets makes the regular file behind its standard output 0600 first.
func TestSecretsNeverLandInAFileOthersCanRead(t *testing.T) {
	dir := newSeedCluster(t)
	for _, args := range [][]string{
		{"metadata", "--cluster", dir, "--node", "m1"},
		{"metadata", "--cluster", dir, "--node", "w1", "-o", "json"},
		{"metadata", "--cluster", dir, "--node", "m1", "--encoding", "base64"},
		{"cluster", "kubeconfig", "--cluster", dir, "-o", "-"},
	} {
		path := filepath.Join(t.TempDir(), "out")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
		err = runInto(t, f, args...)
		f.Close()
		if err != nil {
			t.Fatalf("kiln %s: %v", strings.Join(args, " "), err)
		}
		fi, _ := os.Stat(path)
		data, _ := os.ReadFile(path)
		if fi.Mode().Perm() != 0o600 || len(data) == 0 {
			t.Errorf("kiln %s > FILE: FILE is %#o with %d bytes, want 0600", strings.Join(args, " "), fi.Mode().Perm(), len(data))
		}
	}
}

// The bundle's keys readable by others: refused, naming the file, before
// anything is printed.
func TestABundleWithOpenKeysIsRefused(t *testing.T) {
	dir := newSeedCluster(t)
	key := filepath.Join(dir, cluster.CAKeyFile)
	os.Chmod(key, 0o644)
	out, err := run(t, "metadata", "--cluster", dir, "--node", "m1")
	if err == nil || out != "" || !strings.Contains(err.Error(), "permissions 0644 for '"+key+"' are too open") {
		t.Errorf("metadata with ca.key 0644: %v, printed %d bytes", err, len(out))
	}
}

// Whoever only watches holds cluster.yaml and pki/ca.crt: enough for
// cluster show (and, in TestVSphereWatcherNeedsNoKeys, the vsphere
// commands that only look).
func TestClusterShowNeedsOnlyThePublicFiles(t *testing.T) {
	watch := publicCopy(t, newSeedCluster(t))
	out, err := run(t, "cluster", "show", "--cluster", watch)
	if err != nil || !strings.Contains(out, "m1    control-plane  10.31.100.61") {
		t.Errorf("cluster show on the public files: %v\n%s", err, out)
	}
	if _, err := run(t, "metadata", "--cluster", watch, "--node", "w1"); err == nil {
		t.Error("metadata without the keys succeeded")
	}
}

// publicCopy copies the public part of the bundle in dir to a new
// directory: what an operator who only watches is given.
func publicCopy(t *testing.T, dir string) string {
	t.Helper()
	watch := filepath.Join(t.TempDir(), "watch")
	for _, name := range []string{cluster.SpecFile, cluster.CACertFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(watch, name)), 0o755)
		if err := os.WriteFile(filepath.Join(watch, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return watch
}
