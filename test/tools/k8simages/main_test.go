package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/test/clusterimages/debiantest"
)

func TestRunPrintsOneLinePerImage(t *testing.T) {
	dir := t.TempDir()
	kube := filepath.Join(dir, "kube")
	addons := filepath.Join(dir, "addons")
	if err := os.Mkdir(addons, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{kube, filepath.Join(addons, "coredns"), filepath.Join(addons, "pause"),
		filepath.Join(addons, "flanneld"), filepath.Join(addons, "install-conf"), filepath.Join(addons, "flannel")} {
		if err := os.WriteFile(f, []byte("stand-in "+filepath.Base(f)+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	var stdout bytes.Buffer
	args := []string{"-kube", kube, "-addons", addons, "-debian-root", debiantest.Cluster(t), "-out", out, "-arch", "amd64"}
	if err := run(context.Background(), args, &stdout, "1700000000"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 12 || !strings.HasPrefix(lines[0], "registry.k8s.io/kube-apiserver:v1.34.4 sha256:") {
		t.Errorf("printed %q, want 12 lines starting with kube-apiserver's", lines)
	}
	index, err := os.ReadFile(filepath.Join(out, "index.txt"))
	if err != nil || strings.Count(string(index), "\n") != 12 {
		t.Errorf("index.txt = %q, %v", index, err)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		epoch string
		want  string
	}{
		{[]string{"-addons", "a", "-debian-root", "d", "-out", "o"}, "", "-kube is required"},
		{[]string{"-kube", "k", "-addons", "a", "-debian-root", "d", "-out", "o"}, "yesterday", `SOURCE_DATE_EPOCH="yesterday" is not a number`},
		{[]string{"-kube", "k", "-addons", "a", "-debian-root", "d", "-out", "o", "-kubernetes-version", "v1.33.0"}, "", "kubeadm v1.33.0's image list is not recorded here"},
		{[]string{"-kube", "k", "extra"}, "", `unexpected arguments ["extra"]`},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{}, tc.epoch)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
