package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/kiln-build/kiln/builder/inspect"
	"github.com/spf13/cobra"
)

func newInspectCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show what is in an image: partitions, filesystems, kernel, packages, images, build record",
		Long: `Inspect reads a raw, qcow2, VMDK or OVA image back: the partition table, the root
and EFI filesystems, the kernels, the packages the image's own rpmdb lists, the
container images preloaded under /var/lib/kiln/images with their digests (from
/usr/lib/kiln/images.json), and the build record kiln baked in. It uses qemu-img
(for non-raw images), debugfs and rpm.`,
		Example: `  kiln inspect out/node.qcow2
  kiln inspect out/node.ova -o json | jq .packages`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := inspect.Image(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd, r)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: %s, %.1f GiB, disk GUID %s\n\n", r.File, r.Format, float64(r.DiskSize)/(1<<30), r.DiskGUID)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tNAME\tSTART\tSIZE\tTYPE")
			for _, p := range r.Partitions {
				fmt.Fprintf(tw, "%d\t%s\t%d MiB\t%d MiB\t%s\n", p.Number, p.Name, p.Start>>20, p.Size>>20, p.Type)
			}
			tw.Flush()
			fmt.Fprintln(w)
			if r.Root != nil {
				fmt.Fprintf(w, "root:     ext4 UUID=%s (partition %d, %d MiB)\n", r.Root.UUID, r.Root.Partition, r.Root.Size>>20)
			}
			if r.ESP != nil {
				fmt.Fprintf(w, "ESP:      FAT32 UUID=%s label %s (partition %d)\n", r.ESP.VolumeID, r.ESP.Label, r.ESP.Partition)
			}
			fmt.Fprintf(w, "kernels:  %v\n", r.Kernels)
			fmt.Fprintf(w, "packages: %d (kiln inspect -o json lists them)\n", len(r.Packages))
			if len(r.Images) > 0 {
				fmt.Fprintf(w, "images:   %d preloaded\n", len(r.Images))
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  REF\tDIGEST")
				for _, im := range r.Images {
					ref, digest := im.Ref, im.Digest
					if ref == "" {
						ref = im.File
					}
					if digest == "" {
						digest = "-"
					}
					fmt.Fprintf(tw, "  %s\t%s\n", ref, digest)
				}
				tw.Flush()
			}
			if len(r.Record) > 0 {
				fmt.Fprintf(w, "build record:\n%s\n", r.Record)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
