package repo_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

func parseAll(t testing.TB, data []byte) []*repo.Package {
	t.Helper()
	pkgs, err := collect(data)
	if err != nil {
		t.Fatalf("ParsePrimary: %v", err)
	}
	return pkgs
}

func collect(data []byte) ([]*repo.Package, error) {
	var pkgs []*repo.Package
	err := repo.ParsePrimary(bytes.NewReader(data), func(p *repo.Package) error {
		pkgs = append(pkgs, p)
		return nil
	})
	return pkgs, err
}

func primaryXML(t testing.TB, pkgs []*repo.Package) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rpmtest.WritePrimary(&buf, pkgs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// onlyPrimaryFiles is what primary.xml keeps of a package.
func onlyPrimaryFiles(pkgs []*repo.Package) []*repo.Package {
	out := make([]*repo.Package, len(pkgs))
	for i, p := range pkgs {
		q := *p
		q.Files = nil
		for _, f := range p.Files {
			if repo.InPrimary(f) {
				q.Files = append(q.Files, f)
			}
		}
		out[i] = &q
	}
	return out
}

func diffPackages(t *testing.T, got, want []*repo.Package) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packages, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("package %d:\n got %+v\nwant %+v", i, *got[i], *want[i])
		}
	}
}

// awkward returns packages whose strings need every kind of escaping.
func awkward() []*repo.Package {
	pkgs := rpmtest.GenerateDistro(7, 60)
	pkgs[5].Summary = `Tools for <xml> & "quotes" & 'apostrophes' > all`
	pkgs[6].Summary = "tab\there, newline\nthere, carriage\rreturn, unicode é ✓"
	pkgs[7].URL = "https://example.org/?a=1&b=2"
	pkgs[8].LocationBase = "https://mirror.example.org/base?x=<1>&y=\"2\""
	pkgs[9].Provides = append(pkgs[9].Provides, repo.Dep{Name: "weird<>&\"'\t\n", Flags: repo.LE, EVR: version.EVR{Epoch: 4, Version: "1&2", Release: "<3>"}})
	pkgs[10].Requires = append(pkgs[10].Requires, repo.Dep{Name: "(a >= 1.0 with a < 2.0)"}, repo.Dep{Name: "b", Flags: repo.GT, EVR: version.EVR{Version: "1"}, Pre: true})
	pkgs[11].Enhances = []repo.Dep{{Name: "enhanced"}}
	pkgs[12].Files = append(pkgs[12].Files, "/etc/with space & amp", "/usr/bin/ünïcode")
	return pkgs
}

func TestParsePrimaryRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkgs []*repo.Package
	}{
		{"generated", rpmtest.GenerateDistro(1, 500)},
		{"escaping", awkward()},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := primaryXML(t, tc.pkgs)
			diffPackages(t, parseAll(t, data), onlyPrimaryFiles(tc.pkgs))
		})
	}
}

// TestParsePrimaryMatchesEncodingXML compares with encoding/xml on the
// same documents.
func TestParsePrimaryMatchesEncodingXML(t *testing.T) {
	data := primaryXML(t, awkward())
	want, err := referencePrimary(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	diffPackages(t, parseAll(t, data), want)
}

const head = `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">`

func TestParsePrimaryDetails(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		check     func(*testing.T, []*repo.Package)
	}{{
		name: "entities, CDATA and comments",
		xml: head + `<package type="rpm"><name>a&amp;b</name><arch>x86_64</arch><version epoch="2" ver="1.0" rel="1"/>
			<summary>x &lt;&#65;&#x42;&gt; <!-- c --> <![CDATA[<raw & stuff>]]> &quot;&apos;</summary>
			<description><p>ignored</p> &amp; skipped</description>
			<unknown a="1"><deep><deeper/></deep></unknown>
			<location xml:base="http://m/" href="P/a.rpm"/></package></metadata>`,
		check: func(t *testing.T, p []*repo.Package) {
			if p[0].Name != "a&b" || p[0].Summary != `x <AB>  <raw & stuff> "'` || p[0].EVR.Epoch != 2 {
				t.Errorf("got name %q summary %q epoch %d", p[0].Name, p[0].Summary, p[0].EVR.Epoch)
			}
			if p[0].LocationBase != "http://m/" || p[0].Location != "P/a.rpm" {
				t.Errorf("location %q base %q", p[0].Location, p[0].LocationBase)
			}
		},
	}, {
		name: "source packages skipped",
		xml: head + `<package><name>s</name><arch>src</arch><version ver="1"/></package>
			<package><name>n</name><arch>nosrc</arch><version ver="1"/></package>
			<package><name>b</name><arch>noarch</arch><version ver="1"/></package></metadata>`,
		check: func(t *testing.T, p []*repo.Package) {
			if len(p) != 1 || p[0].Name != "b" {
				t.Errorf("got %v, want only b", p)
			}
		},
	}, {
		name: "dependency flags and pre",
		xml: head + `<package><name>d</name><arch>noarch</arch><version ver="1"/><format>
			<rpm:requires><rpm:entry name="a" flags="LT" epoch="0" ver="1"/><rpm:entry name="b" flags="LE" ver="2" rel="3"/>
			<rpm:entry name="c" flags="GT" epoch="1" ver="1"/><rpm:entry name="/bin/sh" pre="1"/></rpm:requires>
			<rpm:requires><rpm:entry name="e" flags="GE" ver="5"/></rpm:requires>
			<rpm:supplements><rpm:entry name="(x and y)"/></rpm:supplements></format></package></metadata>`,
		check: func(t *testing.T, p []*repo.Package) {
			var got []string
			for _, d := range p[0].Requires {
				got = append(got, fmt.Sprintf("%s pre=%v", d, d.Pre))
			}
			want := []string{"a < 1 pre=false", "b <= 2-3 pre=false", "c > 1:1 pre=false", "/bin/sh pre=true", "e >= 5 pre=false"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("requires %q, want %q", got, want)
			}
			if len(p[0].Supplements) != 1 || p[0].Supplements[0].Name != "(x and y)" {
				t.Errorf("supplements %v", p[0].Supplements)
			}
		},
	}, {
		name: "upper-case checksum and spaces in numbers",
		xml: head + `<package><name>c</name><arch>noarch</arch><version ver="1"/><checksum type="sha256" pkgid="YES">ABCDEF</checksum>
			<size package=" 12 " installed="34"/><time build="56"/><format><rpm:header-range start="1" end="2"/></format></package></metadata>`,
		check: func(t *testing.T, p []*repo.Package) {
			q := p[0]
			if q.Checksum.Value != "abcdef" || q.Size != 12 || q.InstalledSize != 34 || q.BuildTime != 56 || q.HeaderEnd != 2 {
				t.Errorf("got %+v", q)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, parseAll(t, []byte(tc.xml))) })
	}
}

func TestParsePrimaryRejects(t *testing.T) {
	pkg := func(inner string) string {
		return head + `<package><name>x</name><arch>noarch</arch><version ver="1"/>` + inner + `</package></metadata>`
	}
	for _, tc := range []struct{ name, xml, want string }{
		{"empty input", "", "unexpected end"},
		{"wrong root", `<filelists></filelists>`, "want <metadata>"},
		{"truncated", head + `<package><name>x</na`, "unexpected end"},
		{"mismatched end", head + `<package><name>x</arch></package></metadata>`, "does not match"},
		{"unknown entity", pkg(`<summary>&nbsp;</summary>`), "unknown entity"},
		{"bad char ref", pkg(`<summary>&#0;</summary>`), "unknown entity"},
		{"surrogate char ref", pkg(`<summary>&#xD800;</summary>`), "unknown entity"},
		{"huge char ref", pkg(`<summary>&#99999999999;</summary>`), "entity"},
		{"unquoted attribute", pkg(`<time build=1/>`), "not quoted"},
		{"unterminated attribute", pkg(`<time build="1/>`), "unexpected end"},
		{"attribute without value", pkg(`<time build/>`), "without a value"},
		{"bad flags", pkg(`<format><rpm:requires><rpm:entry name="a" flags="XX"/></rpm:requires></format>`), "unknown flags"},
		{"entry without name", pkg(`<format><rpm:provides><rpm:entry flags="EQ"/></rpm:provides></format>`), "without a name"},
		{"bad epoch", pkg(`<format><rpm:provides><rpm:entry name="a" epoch="x"/></rpm:provides></format>`), "epoch"},
		{"epoch overflow", pkg(`<format><rpm:provides><rpm:entry name="a" epoch="4294967296"/></rpm:provides></format>`), "too large"},
		{"size overflow", pkg(`<size package="99999999999999999999"/>`), "too large"},
		{"no name", head + `<package><arch>x</arch><version ver="1"/></package></metadata>`, "without a name"},
		{"no version", head + `<package><name>x</name><arch>x</arch></package></metadata>`, "without a version"},
		{"element in text", pkg(`<summary>a<b/>c</summary>`), "unexpected element"},
		{"deep nesting", pkg(strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)), "deeper than"},
		{"many attributes", pkg("<a" + strings.Repeat(` x="1"`, 100) + "/>"), "more than"},
		{"huge attribute", pkg(`<location href="` + strings.Repeat("a", 3<<20) + `"/>`), "longer than"},
		{"huge text", pkg(`<summary>` + strings.Repeat("a", 3<<20) + `</summary>`), "longer than"},
		{"unterminated comment", head + `<!-- ...`, "unexpected end"},
		{"doctype subset", `<!DOCTYPE x [<!ENTITY a "b">]>` + head, "internal subset"},
		{"second root", head + `</metadata><metadata>`, "after the root"},
		{"lone <", pkg(`<summary>a < b</summary>`), "malformed XML"},
		{"markup <!", pkg(`<!foo>`), "unknown markup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collect([]byte(tc.xml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestParsePrimaryOneByteReads feeds the parser through a reader that
// returns one byte at a time, so every token straddles a buffer refill.
func TestParsePrimaryOneByteReads(t *testing.T) {
	pkgs := awkward()[:20]
	data := primaryXML(t, pkgs)
	var got []*repo.Package
	err := repo.ParsePrimary(&oneByteReader{data}, func(p *repo.Package) error { got = append(got, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	diffPackages(t, got, onlyPrimaryFiles(pkgs))
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestParsePrimaryCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := repo.ParsePrimary(bytes.NewReader(primaryXML(t, rpmtest.GenerateDistro(1, 10))), func(*repo.Package) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d packages, want stop after 1", err, n)
	}
}

func FuzzParsePrimary(f *testing.F) {
	f.Add(primaryXML(f, awkward()[:8]))
	f.Add([]byte(head + `<package><name>a</name><arch>x</arch><version ver="1"/><summary><![CDATA[x]]>&#x41;</summary></package></metadata>`))
	f.Add([]byte(head + `<!-- c --><?pi?><package><name>a</name></package>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := collect(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip through the writer.
		again, err := collect(primaryXML(t, pkgs))
		if err != nil {
			t.Fatalf("re-parsing written packages: %v", err)
		}
		if len(again) != len(pkgs) {
			t.Fatalf("round trip: %d packages, want %d", len(again), len(pkgs))
		}
		for i := range pkgs {
			want := *pkgs[i]
			want.Files = onlyPrimaryFiles(pkgs[i : i+1])[0].Files
			if !reflect.DeepEqual(*again[i], want) {
				t.Fatalf("round trip of package %d:\n got %+v\nwant %+v", i, *again[i], want)
			}
		}
	})
}

// BenchmarkParsePrimary parses a generated 20,000-package primary.xml
// (GenerateDistro's shape) with kiln's scanner and, for comparison, with
// encoding/xml. It reports throughput (MB/s), allocations, and the heap
// the parsed packages keep alive (live-MiB).
func BenchmarkParsePrimary(b *testing.B) {
	data := primaryXML(b, rpmtest.GenerateDistro(1, 20000))
	b.Logf("primary.xml: %.1f MB, 20000 packages", float64(len(data))/1e6)
	for _, bc := range []struct {
		name  string
		parse func([]byte) ([]*repo.Package, error)
	}{
		{"kiln", collect},
		{"encoding-xml", func(d []byte) ([]*repo.Package, error) { return referencePrimary(bytes.NewReader(d)) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			var pkgs []*repo.Package
			for b.Loop() {
				var err error
				if pkgs, err = bc.parse(data); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc-base)/(1<<20), "live-MiB")
			runtime.KeepAlive(pkgs)
		})
	}
}
