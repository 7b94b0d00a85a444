package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/profiles"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// loadProfile reads a profile file or a built-in profile by name.
func loadProfile(ref string) (*spec.Profile, error) {
	return spec.Load(ref, spec.LoadOptions{Builtin: profiles.FS()})
}

// warnDeprecated prints the profile's deprecated: line, which it may have
// from any profile it extends (a built-in on an end-of-life OS, say).
func warnDeprecated(w io.Writer, p *spec.Profile) {
	if p.Deprecated != "" {
		fmt.Fprintf(w, "kiln: warning: profile %s is deprecated: %s\n", p.Name, p.Deprecated)
	}
}

func newProfilesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "List and show built-in profiles",
		Example: `  kiln profiles list
  kiln profiles show rocky9-k8s`,
	}
	var output string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the built-in profiles",
		Example: "  kiln profiles list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type row struct {
				Name        string `json:"name"`
				Extends     string `json:"extends,omitempty"`
				Description string `json:"description"`
				Deprecated  string `json:"deprecated,omitempty"`
			}
			var rows []row
			for _, n := range profiles.Names() {
				p, err := loadProfile(n)
				if err != nil {
					return err
				}
				rows = append(rows, row{n, p.Extends, p.Description, p.Deprecated})
			}
			if output == "json" {
				return writeJSON(cmd, rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tEXTENDS\tDESCRIPTION")
			for _, r := range rows {
				desc := r.Description
				if r.Deprecated != "" {
					desc = "DEPRECATED: " + desc
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Extends, desc)
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show PROFILE",
		Short: "Print a profile with extends applied and defaults filled in",
		Long:  "Print a profile (a built-in name or a file) as kiln sees it: parents merged, relative paths resolved, defaults filled in.",
		Example: `  kiln profiles show rocky9-k8s
  kiln profiles show ./node.yaml -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd, p)
			}
			enc := yaml.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent(2)
			if err := enc.Encode(p); err != nil {
				return err
			}
			return enc.Close()
		},
	}
	for _, c := range []*cobra.Command{list, show} {
		c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	}
	cmd.AddCommand(list, show)
	return cmd
}

func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
