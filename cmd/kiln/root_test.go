package main

import (
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
