package main

import (
	"fmt"
	"runtime"

	"github.com/kiln-build/kiln/builder/buildinfo"
	"github.com/spf13/cobra"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print kiln's version",
		Example: "  kiln version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "kiln %s %s/%s %s\n", buildinfo.Version(), runtime.GOOS, runtime.GOARCH, runtime.Version())
			return err
		},
	}
}
