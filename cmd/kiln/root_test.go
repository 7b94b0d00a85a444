package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command a user can run has an example in its --help, and a usage
// mistake is one line that exits 2.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Example == "" || !strings.Contains(c.Example, "kiln ") {
			t.Errorf("%q has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}

func TestUsageErrorsExitTwo(t *testing.T) {
	_, err := run(t, "build", "rocky9-k8s")
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "-o DIR is required") {
		t.Errorf("kiln build without -o: %v (exit %d)", err, exitCode(err))
	}
	if strings.Contains(oneLine(errJoin("a\nb")), "\n") {
		t.Error("oneLine kept a newline")
	}
}

type errJoin string

func (e errJoin) Error() string { return string(e) }

// A mistake in a document the user wrote exits 2, as a usage mistake does;
// a failure while working (here: a repository that refuses the
// connection) exits 1, so scripts can tell "fix your input" from "try
// again".
func TestBadInputExitsTwoAndFailuresExitOne(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "apiVersion: kiln/v1\nkind: Profile\nname: p\narch: x86_64\nrepos:\n  - name: base\n    baseurl: http://127.0.0.1:1/repo\n    gpgcheck: false\npackages: [bash]\n"
	bad := write("bad.yaml", strings.Replace(good, "packages:", "pakages:", 1))
	badLock := write("bad.lock", `{"lockVersion":9}`)
	refused := write("refused.yaml", good)
	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"unknown field", []string{"resolve", bad}, 2, bad + `:9: pakages: unknown field (did you mean "packages"?)`},
		{"bad lock", []string{"fetch", refused, "--lock", badLock}, 2, badLock + ": lockVersion: 9 is not supported"},
		{"missing lock", []string{"fetch", refused}, 2, "refused.lock not found: run `kiln lock " + refused + "` first"},
		{"refused connection", []string{"--cache-dir", t.TempDir(), "resolve", refused}, 1, "127.0.0.1:1"},
	} {
		_, err := run(t, tc.args...)
		if err == nil || exitCode(err) != tc.want || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: kiln %s: %v (exit %d), want exit %d and %q", tc.name, strings.Join(tc.args, " "), err, exitCode(err), tc.want, tc.msg)
		}
	}
}
