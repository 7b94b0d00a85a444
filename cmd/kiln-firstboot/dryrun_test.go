package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/config"
)

// writeMetadata writes node's metadata from the test bundle, with the
// node's interface set to iface ("" leaves it to discovery).
func writeMetadata(t *testing.T, node, iface string) string {
	t.Helper()
	nc, err := bundle(t).NodeConfig(node)
	if err != nil {
		t.Fatal(err)
	}
	nc.Node.Network.Interface = iface
	doc, err := config.MarshalYAML(nc)
	if err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), node+".yaml")
	if err := os.WriteFile(meta, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return meta
}

// A dry run writes files under --root; with --root defaulting to / it
// would write the host's hostname, hosts, network and CA keys. So a dry
// run needs a --root, and never /.
//
// The metadata file does not exist, so that a kiln-firstboot without the
// check fails before writing anything into the machine running the test.
func TestDryRunRefusesToWriteIntoTheHost(t *testing.T) {
	meta := filepath.Join(t.TempDir(), "absent.yaml")
	for _, args := range [][]string{
		{"--dry-run", "--metadata-file", meta},
		{"--dry-run", "--root", "/", "--metadata-file", meta},
		{"--dry-run", "--root", "//", "--metadata-file", meta},
		{"--dry-run", "--root", "/tmp/..", "--metadata-file", meta},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: printed a plan:\n%s", args, stdout.String())
		}
		if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "--root DIR") {
			t.Errorf("%q: stderr %q, want one line saying to give --root DIR", args, msg)
		}
	}
}

// The docs' dry run on an empty directory: the metadata names no
// interface and the root has no /sys/class/net. That is not a metadata
// mistake: the message says which flag to give, and with it the dry run
// works.
func TestDryRunOnAnEmptyRoot(t *testing.T) {
	meta := writeMetadata(t, "m1", "")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--dry-run", "--root", t.TempDir(), "--metadata-file", meta}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg := stderr.String()
	if strings.Contains(msg, "fix the node's metadata") || !strings.Contains(msg, "--interface NAME") {
		t.Errorf("stderr %q, want a hint to give --interface NAME, not to fix the metadata", msg)
	}

	stdout.Reset()
	stderr.Reset()
	root := t.TempDir()
	code = run(context.Background(), []string{"--dry-run", "--root", root, "--interface", "ens192", "--metadata-file", meta}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("--interface ens192: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "kiln-ens192") {
		t.Errorf("the plan does not configure ens192:\n%s", stdout.String())
	}
}
