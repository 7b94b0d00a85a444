package nocloud

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestISONameSources checks each naming scheme on its own, since ReadFile
// falls back from one to the next and would hide a broken one.
func TestISONameSources(t *testing.T) {
	if _, err := exec.LookPath("genisoimage"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("genisoimage is required in CI")
		}
		t.Skip("genisoimage not installed")
	}
	src := t.TempDir()
	for _, n := range []string{"kiln.yaml", "Mixed Case.Name"} {
		if err := os.WriteFile(filepath.Join(src, n), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "seed.iso")
	cmd := exec.Command("genisoimage", "-quiet", "-output", out, "-volid", "cidata", "-joliet", "-rock", src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v\n%s", err, b)
	}
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	v, err := openISO9660(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if v.jolietRoot == nil {
		t.Fatal("no Joliet descriptor found")
	}
	primary, err := v.readDir(v.root, false)
	if err != nil {
		t.Fatal(err)
	}
	joliet, err := v.readDir(v.jolietRoot, true)
	if err != nil {
		t.Fatal(err)
	}
	var iso, rr, jol []string
	for _, r := range primary {
		iso, rr = append(iso, r.name), append(rr, r.rrName)
	}
	for _, r := range joliet {
		jol = append(jol, isoBaseName(r.name))
	}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"ISO 9660 names", iso, []string{"KILN.YAM;1", "MIXED_CA.NAM;1"}},
		{"Rock Ridge names", rr, []string{"kiln.yaml", "Mixed Case.Name"}},
		{"Joliet names", jol, []string{"Mixed Case.Name", "kiln.yaml"}},
	} {
		g, w := slices.Sorted(slices.Values(c.got)), slices.Sorted(slices.Values(c.want))
		if !slices.Equal(g, w) {
			t.Errorf("%s = %q, want %q", c.what, g, w)
		}
	}
}

func TestISO83(t *testing.T) {
	for in, want := range map[string]string{
		"kiln.yaml": "KILN.YAM", "meta-data": "META_DAT", "a.b.c": "A_B.C", "verylongname.x": "VERYLONG.X",
	} {
		if got := iso83(in); got != want {
			t.Errorf("iso83(%q) = %q, want %q", in, got, want)
		}
	}
}
