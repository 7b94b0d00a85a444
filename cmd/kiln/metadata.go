package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/spf13/cobra"
)

func newMetadataCommand() *cobra.Command {
	var dir, node, output, encoding, refresh string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "metadata",
		Short: "Print one node's metadata (a NodeConfig) from a cluster bundle",
		Long: `Print the NodeConfig the kiln-firstboot agent reads on the named node's first
boot: the cluster, the node's role and network, and its secrets (control
planes get the CA and service-account keys; workers the CA certificate and
a new join credential for that node alone, valid for --credential-ttl).
See docs/metadata.md for the schema and the delivery channels, and
docs/security.md for what each secret is.

A worker must join before its credential expires; its agent refuses an
expired one. --refresh OLD.yaml prints OLD.yaml (the document the worker was
given, perhaps edited) with a new credential and nothing else changed;
deliver it to the VM and reboot it.

--encoding prints the value for a string channel such as vSphere's
guestinfo.kiln.metadata; set guestinfo.kiln.metadata.encoding to the same
name.

The document holds secrets (a control plane's CA keys, a worker's
credential key): when standard output is a file, kiln makes it 0600
before writing. The bundle's key and token files must be private to their
owner, as ssh wants of a private key; kiln refuses them otherwise.`,
		Example: `  kiln metadata --cluster prod/ --node m1 > m1.yaml
  kiln metadata --cluster prod/ --node w1 -o json --credential-ttl 2h
  kiln metadata --cluster prod/ --refresh w1.yaml > w1-new.yaml
  govc vm.change -vm w1 -e guestinfo.kiln.metadata="$(kiln metadata --cluster prod/ --node w1 --encoding gzip+base64)" \
    -e guestinfo.kiln.metadata.encoding=gzip+base64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{errors.New("--cluster is required")}
			}
			if (node == "") == (refresh == "") {
				return usageError{errors.New("give --node NAME, or --refresh FILE for a worker's document with an expired credential")}
			}
			if err := checkCredentialTTL(ttl); err != nil {
				return err
			}
			if output != "yaml" && output != "json" {
				return usageError{fmt.Errorf("--output %q: want yaml or json", output)}
			}
			var enc config.Encoding
			switch encoding {
			case "":
			case string(config.EncodingBase64), string(config.EncodingGzipBase64):
				enc = config.Encoding(encoding)
			default:
				return usageError{fmt.Errorf("--encoding %q: want base64 or gzip+base64", encoding)}
			}
			b, err := cluster.Load(dir)
			if err != nil {
				return err
			}
			opts := cluster.NodeOptions{CredentialTTL: ttl}
			var nc *config.NodeConfig
			if refresh != "" {
				raw, err := os.ReadFile(refresh)
				if err != nil {
					return usageError{fmt.Errorf("--refresh: %w", err)}
				}
				if nc, err = config.Parse(raw); err != nil {
					return usageError{fmt.Errorf("--refresh %s: %w", refresh, err)}
				}
				if err := b.RefreshCredential(nc, opts); err != nil {
					if es := config.Errors(err); es != nil {
						return usageError{fmt.Errorf("--refresh %s: %s: %s", refresh, es[0].Field, es[0].Msg)}
					}
					return err
				}
			} else if nc, err = b.NodeConfigWith(node, opts); err != nil {
				if _, known := findNode(b, node); !known {
					return usageError{fmt.Errorf("--node %q: no such node in cluster %s (see kiln cluster show)", node, b.Spec.Name)}
				}
				return err
			}
			marshal := config.MarshalYAML
			if output == "json" {
				marshal = config.MarshalJSON
			}
			doc, err := marshal(nc)
			if err != nil {
				return err
			}
			w, err := secretOutput(cmd)
			if err != nil {
				return err
			}
			if enc == config.EncodingNone {
				_, err = w.Write(doc)
				return err
			}
			s, err := config.Encode(doc, enc)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(w, s)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "cluster", "", "cluster bundle directory, required")
	f.StringVar(&node, "node", "", "node name, required")
	f.StringVarP(&output, "output", "o", "yaml", "document format: yaml or json")
	f.StringVar(&encoding, "encoding", "", "wrap the document for a string channel: base64 or gzip+base64")
	f.StringVar(&refresh, "refresh", "", "print this worker document again with a new join credential (instead of --node)")
	credentialTTLFlag(f, &ttl)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func findNode(b *cluster.Bundle, name string) (cluster.Node, bool) {
	for _, n := range b.Spec.Nodes() {
		if n.Name == name {
			return n, true
		}
	}
	return cluster.Node{}, false
}
