package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// -o is where the commands that write files write (kiln build, kiln
// cluster new, kiln cluster kubeconfig) and the output format elsewhere.
// Where it is a path, a bare format name is refused: `-o json` is meant
// as a format, and must not make a directory or file named json.
func TestOutputPathIsNeverAFormatName(t *testing.T) {
	bundle := newSeedCluster(t)
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"build", "node.yaml", "-o", "json"},
		{"build", "node.yaml", "--out", "yaml"},
		{"cluster", "new", "--name", "prod", "--kubernetes-version", "v1.34.2", "--vip", "10.31.100.100", "--control-plane", "m1=10.31.100.61", "-o", "json"},
		{"cluster", "kubeconfig", "--cluster", bundle, "-o", "json"},
	} {
		_, err := run(t, args...)
		name := args[len(args)-1]
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "not an output format") || !strings.Contains(err.Error(), "give -o ./"+name) {
			t.Errorf("kiln %s: %v, want a usage error saying -o is not the format here and to write ./%s", strings.Join(args, " "), err, name)
		}
		if ents, _ := os.ReadDir("."); len(ents) != 0 {
			t.Errorf("kiln %s wrote %v", strings.Join(args, " "), ents)
		}
	}
	// ./json is a directory named json, as asked.
	if _, err := run(t, "cluster", "new", "--name", "prod", "--kubernetes-version", "v1.34.2", "--vip", "10.31.100.100", "--control-plane", "m1=10.31.100.61", "-o", "./json"); err != nil {
		t.Errorf("-o ./json: %v", err)
	}
	if _, err := os.Stat(filepath.Join("json", "cluster.yaml")); err != nil {
		t.Error(err)
	}
}

// --output is the format on every command; where -o is a path its long
// form is --out (cluster new's and kubeconfig's --output PATH still work,
// deprecated).
func TestOutputFlagsMeanOneThing(t *testing.T) {
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
	for _, c := range all {
		if f := c.Flags().Lookup("output"); f != nil && f.Deprecated == "" && !strings.Contains(f.Usage, "json") {
			t.Errorf("kiln %s: --output is %q, not an output format", c.CommandPath(), f.Usage)
		}
		if f := c.Flags().Lookup("out"); f != nil && f.Shorthand != "o" {
			t.Errorf("kiln %s: --out has no -o", c.CommandPath())
		}
	}
	dir := filepath.Join(t.TempDir(), "old")
	if _, err := run(t, "cluster", "new", "--name", "prod", "--kubernetes-version", "v1.34.2", "--vip", "10.31.100.100", "--control-plane", "m1=10.31.100.61", "--output", dir); err != nil {
		t.Errorf("cluster new --output DIR: %v", err)
	}
}
