package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
)

// formatNames are what -o means on the commands that print data.
var formatNames = []string{"json", "yaml", "text"}

// checkOutPath refuses a bare format name as the path a command writes
// to (-o, --out): `kiln build -o json` or `kiln cluster new ... -o json`
// is a format meant, not a directory named json. hint says where the
// format is asked for instead.
func checkOutPath(path, what, hint string) error {
	if slices.Contains(formatNames, path) {
		return usageError{fmt.Errorf("-o %s: here -o (--out) is the %s to write, not an output format (%s); for a %s named %s give -o ./%s", path, what, hint, what, path, path)}
	}
	return nil
}

// deprecatedOutputPath keeps --output PATH working on a command whose
// path flag is now --out, hidden and with a warning.
func deprecatedOutputPath(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "output", "", "same as --out")
	cmd.Flags().MarkDeprecated("output", "use --out (-o); --output is the output format on every other command")
}
