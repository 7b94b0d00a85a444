package repo_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

func filelistsXML(t testing.TB, pkgs []*repo.Package) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rpmtest.WriteFilelists(&buf, pkgs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func collectFilelists(data []byte) ([]*repo.FileList, error) {
	var out []*repo.FileList
	err := repo.ParseFilelists(bytes.NewReader(data), func(fl *repo.FileList) error {
		out = append(out, fl)
		return nil
	})
	return out, err
}

func TestParseFilelistsRoundTrip(t *testing.T) {
	pkgs := awkward()
	got, err := collectFilelists(filelistsXML(t, pkgs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pkgs) {
		t.Fatalf("got %d packages, want %d", len(got), len(pkgs))
	}
	for i, p := range pkgs {
		want := &repo.FileList{PkgID: p.Checksum.Value, Name: p.Name, Arch: p.Arch, EVR: p.EVR, Files: p.Files}
		if want.Files == nil {
			want.Files = []string{}
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Fatalf("package %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
}

func TestParseFilelistsRejects(t *testing.T) {
	const h = `<?xml version="1.0"?><filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">`
	for _, tc := range []struct{ name, xml, want string }{
		{"empty", "", "unexpected end"},
		{"wrong root", "<metadata/>", "want <filelists>"},
		{"no pkgid", h + `<package name="a" arch="x"></package></filelists>`, "without pkgid"},
		{"truncated", h + `<package pkgid="1" name="a" arch="x"><file>/a`, "unexpected end"},
		{"element in file", h + `<package pkgid="1" name="a" arch="x"><file>/a<b/></file></package></filelists>`, "unexpected element"},
		{"huge path", h + `<package pkgid="1" name="a" arch="x"><file>` + strings.Repeat("x", 3<<20) + `</file></package></filelists>`, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collectFilelists([]byte(tc.xml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseFilelists(f *testing.F) {
	f.Add(filelistsXML(f, awkward()[:5]))
	f.Add([]byte(`<filelists><package pkgid="A" name="n" arch="a"><version epoch="1" ver="2" rel="3"/><file type="dir">/&amp;</file></package></filelists>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fls, err := collectFilelists(data)
		if err != nil {
			return
		}
		// What parses must read back the same after writing.
		pkgs := make([]*repo.Package, len(fls))
		for i, fl := range fls {
			pkgs[i] = &repo.Package{Name: fl.Name, Arch: fl.Arch, EVR: fl.EVR, Checksum: repo.Checksum{Value: fl.PkgID}, Files: fl.Files}
		}
		again, err := collectFilelists(filelistsXML(t, pkgs))
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		if !reflect.DeepEqual(again, fls) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, fls)
		}
	})
}

func TestParseRepomd(t *testing.T) {
	dir := t.TempDir()
	if err := rpmtest.WriteRepo(dir, rpmtest.GenerateDistro(1, 5), rpmtest.RepoOptions{Compression: "xz", Revision: "42"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "repodata/repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md, err := repo.ParseRepomd(f)
	if err != nil {
		t.Fatal(err)
	}
	if md.Revision != "42" || len(md.Data) != 3 {
		t.Fatalf("got %+v", md)
	}
	for _, typ := range []string{"primary", "filelists", "other"} {
		d, ok := md.Find(typ)
		if !ok {
			t.Fatalf("no %s", typ)
		}
		st, err := os.Stat(filepath.Join(dir, d.Location))
		if err != nil {
			t.Fatal(err)
		}
		if d.Size != st.Size() || d.OpenSize <= d.Size || d.Timestamp != 1700000000 || d.Checksum.Type != "sha256" || d.OpenChecksum.Type != "sha256" {
			t.Errorf("%s: %+v (file size %d)", typ, d, st.Size())
		}
		if !strings.HasSuffix(d.Location, d.Type+".xml.xz") || !strings.Contains(d.Location, d.Checksum.Value) {
			t.Errorf("%s location %q", typ, d.Location)
		}
	}
}

func TestParseRepomdRejects(t *testing.T) {
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	data := func(inner string) string {
		return `<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary">` + inner + `</data></repomd>`
	}
	for _, tc := range []struct{ name, xml, want string }{
		{"empty", "", "EOF"},
		{"not xml", "hello", "malformed"},
		{"no data", `<repomd></repomd>`, "no data"},
		{"no location", data(`<checksum type="sha256">` + sum + `</checksum>`), "no location"},
		{"md5", data(`<checksum type="md5">0123456789abcdef0123456789abcdef</checksum><location href="a"/>`), "unsupported checksum type"},
		{"short checksum", data(`<checksum type="sha256">abc</checksum><location href="a"/>`), "hex digits"},
		{"non-hex checksum", data(`<checksum type="sha256">` + strings.Repeat("zz", 32) + `</checksum><location href="a"/>`), "not hex"},
		{"negative size", data(`<checksum type="sha256">` + sum + `</checksum><location href="a"/><size>-1</size>`), "non-negative"},
		{"bad open-checksum", data(`<checksum type="sha256">` + sum + `</checksum><open-checksum type="sha256">x</open-checksum><location href="a"/>`), "open-checksum"},
		{"too large", `<repomd>` + strings.Repeat(" ", 9<<20) + `</repomd>`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := repo.ParseRepomd(strings.NewReader(tc.xml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Fractional timestamps, as some generators write, are accepted.
	md, err := repo.ParseRepomd(strings.NewReader(data(`<checksum type="sha">` + sum[:40] + `</checksum><location href="a"/><timestamp>1700000000.25</timestamp>`)))
	if err != nil || md.Data[0].Timestamp != 1700000000 {
		t.Errorf("fractional timestamp: %v %+v", err, md)
	}
}

func FuzzParseRepomd(f *testing.F) {
	dir := f.TempDir()
	if err := rpmtest.WriteRepo(dir, rpmtest.GenerateDistro(1, 2), rpmtest.RepoOptions{}); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join(dir, "repodata/repomd.xml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`<repomd><data type="x"><checksum type="sha1">` + strings.Repeat("a", 40) + `</checksum><location href="x"/></data></repomd>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := repo.ParseRepomd(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, d := range md.Data {
			if d.Type == "" || d.Location == "" || d.Checksum.Value == "" || d.Size < 0 || d.OpenSize < 0 {
				t.Fatalf("accepted an invalid entry: %+v", d)
			}
		}
	})
}
