package clusterimages

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/builder/reftest"
)

// With a real Debian 12 tree (KILN_DEBIAN_ROOT, made as the task's
// debootstrap line shows), every Debian-made program in the images runs
// from the image's own files alone: each image is unpacked and the
// programs its pods run are started in a chroot of it.
func TestDebianProgramsRunFromTheirImages(t *testing.T) {
	root := os.Getenv("KILN_DEBIAN_ROOT")
	if root == "" {
		t.Skip("KILN_DEBIAN_ROOT (an installed Debian 12 tree) not set")
	}
	reftest.Root(t)
	chroot := reftest.Tool(t, "chroot")
	in := standInInputs(t)
	in.DebianRoot = root
	out := t.TempDir()
	results, err := Build(context.Background(), in, out)
	if err != nil {
		t.Fatal(err)
	}
	imgs := loadAll(t, out, results)
	var keepalived, haproxy string
	for _, r := range results {
		if strings.HasPrefix(r.Ref, "kiln.test/keepalived:") {
			keepalived = r.Ref
		}
		if strings.HasPrefix(r.Ref, "kiln.test/haproxy:") {
			haproxy = r.Ref
		}
	}
	for _, tc := range []struct {
		ref  string
		cmds [][]string
	}{
		{"registry.k8s.io/kube-proxy:v1.34.4", [][]string{
			{"iptables", "--version"}, {"iptables-save", "--version"}, {"iptables-restore", "--version"},
			{"ip6tables", "--version"}, {"ip6tables-save", "--version"}, {"ip6tables-restore", "--version"},
			{"iptables-legacy", "--version"}, {"conntrack", "--version"},
			// Loads the nft backend and an xtables match module.
			{"iptables", "-t", "filter", "-C", "INPUT", "-m", "comment", "--comment", "kiln-test", "-j", "ACCEPT"},
		}},
		{"ghcr.io/flannel-io/flannel:v0.28.9", [][]string{{"iptables", "--version"}, {"iptables-restore", "--version"}}},
		{"ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3", [][]string{{"cp", "-f", "/flannel", "/flannel.copy"}}},
		{haproxy, [][]string{{"/usr/sbin/haproxy", "-v"}}},
		{keepalived, [][]string{
			{"/usr/sbin/keepalived", "--version"}, {"curl", "--version"}, {"ip", "-V"},
			{"/bin/sh", "-c", "ip -o addr show | grep -qF ' 127.0.0.1/'"},
		}},
	} {
		dir := t.TempDir()
		unpack(t, imgs[tc.ref], dir)
		for _, c := range tc.cmds {
			cmd := exec.Command(chroot, append([]string{dir}, c...)...)
			cmd.Env = []string{Path}
			b, err := cmd.CombinedOutput()
			// -C exits 1 when the rule is absent: it ran.
			if ee, ok := err.(*exec.ExitError); ok && c[len(c)-1] == "ACCEPT" && ee.ExitCode() == 1 {
				err = nil
			}
			if err != nil {
				t.Errorf("%s: %q: %v\n%s", tc.ref, c, err, b)
			}
		}
	}
}

// unpack applies img's layers to dir, as containerd would (no whiteouts
// here: these images' layers only add).
func unpack(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, h.Name)
			switch h.Typeflag {
			case tar.TypeDir:
				err = os.MkdirAll(p, os.FileMode(h.Mode).Perm())
			case tar.TypeSymlink:
				err = os.Symlink(h.Linkname, p)
			case tar.TypeReg:
				var f *os.File
				if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm()); err == nil {
					_, err = io.Copy(f, tr)
					err = errors.Join(err, f.Close())
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rc.Close()
	}
}
