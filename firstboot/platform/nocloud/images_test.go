package nocloud_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need skips a test when a reference tool is missing, unless CI is set
// (CI installs them all: genisoimage, xorriso, dosfstools, mtools).
func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func golden(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/kiln.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bigMetadata is metadata larger than several FAT clusters and ISO
// sectors, so reads follow cluster chains and span sectors.
func bigMetadata() []byte {
	var b bytes.Buffer
	b.WriteString("apiVersion: kiln/v1\nkind: NodeConfig\npeers:\n")
	for i := 0; b.Len() < 20000; i++ {
		fmt.Fprintf(&b, "  - name: master-%04d\n    address: 10.0.%d.%d\n", i, i/250, i%250+1)
	}
	return b.Bytes()
}

// srcDir writes kiln.yaml (the golden file) and the extra files into a new
// directory and returns it.
func srcDir(t testing.TB, extra map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"kiln.yaml": golden(t)}
	for k, v := range extra {
		files[k] = v
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// image is one fixture recipe: the exact commands that build it, run in a
// source directory holding kiln.yaml and extra. out is the image path.
type image struct {
	name  string
	label string
	extra map[string][]byte
	build func(t testing.TB, src, out string)
}

func manyNames() map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i < 60; i++ {
		m[fmt.Sprintf("aaa-padding-file-with-a-long-name-%02d.txt", i)] = []byte("x\n")
	}
	return m
}

var longName = strings.Repeat("long-rock-ridge-name-", 9) + "kiln.yaml"

func isoImages() []image {
	return []image{
		{"cloud-init-style", "cidata", nil, func(t testing.TB, src, out string) {
			need(t, "genisoimage")
			run(t, src, "genisoimage", "-quiet", "-output", out, "-volid", "cidata", "-joliet", "-rock", ".")
		}},
		{"iso-level1-only", "CIDATA", nil, func(t testing.TB, src, out string) {
			need(t, "genisoimage")
			// No Rock Ridge, no Joliet: the file is KILN.YAM;1.
			run(t, src, "genisoimage", "-quiet", "-output", out, "-volid", "CIDATA", ".")
		}},
		{"iso-level2-only", "cidata", nil, func(t testing.TB, src, out string) {
			need(t, "genisoimage")
			run(t, src, "genisoimage", "-quiet", "-iso-level", "2", "-output", out, "-volid", "cidata", ".")
		}},
		{"joliet-only", "cidata", nil, func(t testing.TB, src, out string) {
			need(t, "genisoimage")
			run(t, src, "genisoimage", "-quiet", "-joliet", "-output", out, "-volid", "cidata", ".")
		}},
		{"xorriso-rock-ridge-many-files", "cidata", manyNames(), func(t testing.TB, src, out string) {
			need(t, "xorriso")
			run(t, src, "xorriso", "-as", "mkisofs", "-quiet", "-o", out, "-V", "cidata", "-r", ".")
		}},
		{"xorriso-long-rr-name", "cidata", map[string][]byte{longName: []byte("long: true\n")}, func(t testing.TB, src, out string) {
			need(t, "xorriso")
			run(t, src, "xorriso", "-as", "mkisofs", "-quiet", "-o", out, "-V", "cidata", "-r", "-J", "-joliet-long", ".")
		}},
	}
}

func fatImages() []image {
	mcopyAll := func(t testing.TB, src, out string) {
		ents, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			run(t, src, "mcopy", "-i", out, e.Name(), "::"+e.Name())
		}
	}
	return []image{
		{"fat12", "cidata", nil, func(t testing.TB, src, out string) {
			need(t, "mkfs.vfat", "mcopy")
			run(t, src, "mkfs.vfat", "-C", "-n", "cidata", out, "1440")
			mcopyAll(t, src, out)
		}},
		{"fat16-fragmented", "CIDATA", nil, func(t testing.TB, src, out string) {
			need(t, "mkfs.vfat", "mcopy", "mdel")
			run(t, src, "mkfs.vfat", "-F", "16", "-s", "1", "-C", "-n", "CIDATA", out, "16384")
			// Leave a one-cluster hole before kiln.yaml so its chain jumps.
			must(t, os.WriteFile(filepath.Join(src, "hole"), make([]byte, 512), 0o644))
			must(t, os.WriteFile(filepath.Join(src, "after"), make([]byte, 512), 0o644))
			run(t, src, "mcopy", "-i", out, "hole", "::hole")
			run(t, src, "mcopy", "-i", out, "after", "::after")
			run(t, src, "mdel", "-i", out, "::hole")
			run(t, src, "mcopy", "-i", out, "kiln.yaml", "::kiln.yaml")
		}},
		{"fat32-many-files", "cidata", manyNames(), func(t testing.TB, src, out string) {
			need(t, "mkfs.vfat", "mcopy")
			// 66000 KiB with 512-byte clusters is past 65525 clusters: FAT32,
			// and a root directory spanning many clusters.
			run(t, src, "mkfs.vfat", "-F", "32", "-S", "512", "-s", "1", "-C", "-n", "cidata", out, "66000")
			mcopyAll(t, src, out)
		}},
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
