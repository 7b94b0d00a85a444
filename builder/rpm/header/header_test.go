package header_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

var fixture = rpmtest.Package{
	Name: "hello", Version: "1.2.3", Release: "4.el9", Epoch: 3, Arch: "x86_64",
	Summary: "greets", License: "ASL 2.0",
	Files: []rpmtest.File{
		{Path: "/usr/bin/hello", Mode: 0o755, Content: "#!/bin/sh\necho hello\n"},
		{Path: "/usr/share/doc/hello", Mode: 0o755 | os.ModeDir},
		{Path: "/usr/share/doc/hello/README", Content: "read me\n", Flags: rpmtest.Doc},
	},
	Provides:   rpmtest.Deps("greeter = 2.0", "hello-api"),
	Requires:   rpmtest.Deps("bash >= 4.2-1", "(coreutils or busybox)", "glibc < 3"),
	Conflicts:  rpmtest.Deps("goodbye > 1:0.9"),
	Obsoletes:  rpmtest.Deps("hello-old <= 1.0"),
	Recommends: rpmtest.Deps("hello-doc"),
}

func build(t testing.TB, p rpmtest.Package, o rpmtest.Options) []byte {
	t.Helper()
	b, err := p.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// query runs rpm -qp --queryformat on file.
func query(t *testing.T, file, format string) string {
	t.Helper()
	out, err := exec.Command(reftest.Tool(t, "rpm"), "-qp", "--nosignature", "--nodigest", "--queryformat", format, file).Output()
	if err != nil {
		t.Fatalf("rpm -qp %s: %v", file, err)
	}
	return string(out)
}

// describe formats what rpm prints for the same query, from our parse.
func describe(t *testing.T, p *header.Package) string {
	t.Helper()
	h := p.Header
	n, err := h.NEVRA()
	if err != nil {
		t.Fatal(err)
	}
	epoch := "(none)"
	if !n.NoEpoch {
		epoch = fmt.Sprint(n.EVR.Epoch)
	}
	summary, _ := h.String(header.TagSummary)
	bt, _ := h.Int(header.TagBuildTime)
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s|%d|%x\n", n.Name, epoch, n.EVR.Version, n.EVR.Release, n.Arch, summary, bt, sha256.Sum256(h.Bytes()))
	for _, k := range []header.DepKind{header.Provides, header.Requires, header.Conflicts, header.Obsoletes, header.Recommends} {
		deps, err := h.Deps(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps {
			fmt.Fprintf(&b, "%d:%s|%d|%s\n", k, d.Name, d.Sense, d.EVR.String())
		}
	}
	return b.String()
}

const rpmFormat = `%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SUMMARY}|%{BUILDTIME}|%{SHA256HEADER}\n` +
	`[0:%{PROVIDENAME}|%{PROVIDEFLAGS}|%{PROVIDEVERSION}\n]` +
	`[1:%{REQUIRENAME}|%{REQUIREFLAGS}|%{REQUIREVERSION}\n]` +
	`[2:%{CONFLICTNAME}|%{CONFLICTFLAGS}|%{CONFLICTVERSION}\n]` +
	`[3:%{OBSOLETENAME}|%{OBSOLETEFLAGS}|%{OBSOLETEVERSION}\n]` +
	`[4:%{RECOMMENDNAME}|%{RECOMMENDFLAGS}|%{RECOMMENDVERSION}\n]`

func TestReadMatchesRPM(t *testing.T) {
	reftest.Tool(t, "rpm")
	key := rpmtest.TestKey(t, "header")
	noEpoch := fixture
	noEpoch.Epoch = 0
	xz := fixture
	xz.Compressor = "xz"
	tests := []struct {
		name string
		pkg  rpmtest.Package
		opts rpmtest.Options
	}{
		{"unsigned", fixture, rpmtest.Options{}},
		{"v4", fixture, rpmtest.Options{Key: key}},
		{"v3 legacy", fixture, rpmtest.Options{Key: key, V3: true, Legacy: true}},
		{"no epoch", noEpoch, rpmtest.Options{Key: key, PayloadSignature: true}},
		{"xz", xz, rpmtest.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := build(t, tt.pkg, tt.opts)
			file := filepath.Join(t.TempDir(), "p.rpm")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			r := bytes.NewReader(b)
			p, err := header.Read(r)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if rest := int64(r.Len()); p.PayloadStart+rest != int64(len(b)) {
				t.Errorf("Read left the reader at %d, PayloadStart = %d", int64(len(b))-rest, p.PayloadStart)
			}
			if size, err := p.Signature.Int(header.SigSize); err != nil || int64(size) != int64(len(b))-p.HeaderStart {
				t.Errorf("signature size tag = %d (%v), want %d", size, err, int64(len(b))-p.HeaderStart)
			}
			want := query(t, file, rpmFormat)
			if tt.opts.Legacy {
				// No SHA-256 header digest in legacy packages: compare
				// with our own sum, and the SHA-1 one with rpm's.
				sha1 := strings.TrimSpace(query(t, file, `%{SHA1HEADER}`))
				if got, _ := p.Signature.String(header.SigSHA1); got != sha1 {
					t.Errorf("SHA1HEADER = %s, rpm says %s", got, sha1)
				}
				want = strings.Replace(want, "(none)\n", fmt.Sprintf("%x\n", sha256.Sum256(p.Header.Bytes())), 1)
			}
			if got := describe(t, p); got != want {
				t.Errorf("parse differs from rpm -qp:\n got: %s\nwant: %s", got, want)
			}
			if p.Lead.Name != "hello-1.2.3-4.el9" || p.Lead.Major != 3 {
				t.Errorf("lead = %+v", p.Lead)
			}
		})
	}
}

// TestReadRPMBuild parses a package rpmbuild made, if rpmbuild is here.
func TestReadRPMBuild(t *testing.T) {
	rpmbuild := reftest.Tool(t, "rpmbuild")
	top := t.TempDir()
	spec := filepath.Join(top, "t.spec")
	os.WriteFile(spec, []byte(`Name: kilntest
Version: 2.0
Release: 7
Epoch: 1
Summary: rpmbuild fixture
License: MIT
BuildArch: noarch
Requires: bash >= 4
Provides: kiln-fixture = 5
%description
fixture
%install
mkdir -p %{buildroot}/etc
echo hi > %{buildroot}/etc/kilntest.conf
%files
%config(noreplace) /etc/kilntest.conf
`), 0o644)
	cmd := exec.Command(rpmbuild, "--define", "_topdir "+top, "--define", "_build_id_links none", "-bb", spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	file := filepath.Join(top, "RPMS", "noarch", "kilntest-2.0-7.noarch.rpm")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := header.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := query(t, file, strings.ReplaceAll(rpmFormat, `%{SUMMARY}`, `%{SUMMARY}`))
	if got := describe(t, p); got != want {
		t.Errorf("parse differs from rpm -qp:\n got: %s\nwant: %s", got, want)
	}
	if !p.Header.Has(header.TagPayloadDigest) {
		t.Error("rpmbuild package has no payload digest")
	}
}

func TestAccessors(t *testing.T) {
	p, err := header.Read(bytes.NewReader(build(t, fixture, rpmtest.Options{})))
	if err != nil {
		t.Fatal(err)
	}
	h := p.Header
	if got := h.Name() + " " + h.Version() + " " + h.Release() + " " + h.Arch(); got != "hello 1.2.3 4.el9 x86_64" {
		t.Errorf("Name Version Release Arch = %q", got)
	}
	if h.Epoch() != 3 {
		t.Errorf("Epoch = %d, want 3", h.Epoch())
	}
	names, err := h.Strings(header.TagBaseNames)
	if err != nil || strings.Join(names, ",") != "hello,hello,README" {
		t.Errorf("Strings(BaseNames) = %q, %v", names, err)
	}
	modes, err := h.Uint16s(header.TagFileModes)
	if err != nil || len(modes) != 3 || modes[0] != 0o100755 || modes[1] != 0o40755 {
		t.Errorf("Uint16s(FileModes) = %o, %v", modes, err)
	}
	ints, err := h.Ints(header.TagFileModes)
	if err != nil || ints[0] != 0o100755 {
		t.Errorf("Ints(FileModes) = %o, %v", ints, err)
	}
	if _, err := h.Uint32s(header.TagFileModes); err == nil {
		t.Error("Uint32s on an INT16 tag: no error")
	}
	if _, err := h.String(header.TagURL); !errors.Is(err, header.ErrNotFound) {
		t.Errorf("String(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := p.Signature.Bin(header.SigRSA); !errors.Is(err, header.ErrNotFound) {
		t.Errorf("unsigned package: Bin(SigRSA) error = %v, want ErrNotFound", err)
	}
	md5, err := p.Signature.Bin(header.SigMD5)
	if err != nil || len(md5) != 16 {
		t.Errorf("Bin(SigMD5) = %x, %v", md5, err)
	}
	reqs, err := h.Requires()
	if err != nil || reqs[0].String() != "bash >= 4.2-1" || reqs[1].Name != "(coreutils or busybox)" {
		t.Errorf("Requires = %v, %v", reqs, err)
	}
	if !reqs[len(reqs)-1].Pre && reqs[len(reqs)-1].Sense&header.SenseRPMLib == 0 {
		t.Errorf("last require %v is not an rpmlib() one", reqs[len(reqs)-1])
	}
}

// blob builds a raw header; entries' offsets are taken as given, so tests
// can describe broken headers exactly.
type ent struct {
	tag, typ, off, count uint32
}

func blob(region bool, ents []ent, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0})
	il := len(ents)
	d := append([]byte(nil), data...)
	if region {
		il++
	}
	trailer := len(d)
	if region {
		d = binary.BigEndian.AppendUint32(d, 63)
		d = binary.BigEndian.AppendUint32(d, 7)
		d = binary.BigEndian.AppendUint32(d, uint32(-int32(16*il)))
		d = binary.BigEndian.AppendUint32(d, 16)
	}
	binary.Write(&b, binary.BigEndian, uint32(il))
	binary.Write(&b, binary.BigEndian, uint32(len(d)))
	if region {
		binary.Write(&b, binary.BigEndian, []uint32{63, 7, uint32(trailer), 16})
	}
	for _, e := range ents {
		binary.Write(&b, binary.BigEndian, []uint32{e.tag, e.typ, e.off, e.count})
	}
	b.Write(d)
	return b.Bytes()
}

func TestParse(t *testing.T) {
	// "abc", ["de"], pad, INT32 [0 7], INT64 [42]
	str := []byte("abc\x00de\x00\x00")
	str = binary.BigEndian.AppendUint32(str, 0)
	str = binary.BigEndian.AppendUint32(str, 7)
	str = binary.BigEndian.AppendUint64(str, 42)
	tests := []struct {
		name    string
		b       []byte
		wantErr string
	}{
		{"good", blob(true, []ent{{1000, 6, 0, 1}, {1001, 8, 4, 1}, {1002, 4, 8, 2}, {1003, 5, 16, 1}}, str), ""},
		{"no region", blob(false, []ent{{1000, 6, 0, 1}}, str[:4]), ""},
		{"bad magic", append([]byte{0x8e, 0xad, 0xe8, 0x02}, blob(true, nil, nil)[4:]...), "bad magic"},
		{"empty", nil, "truncated"},
		{"no entries", blob(false, nil, nil), "no index entries"},
		{"string unterminated", blob(false, []ent{{1000, 6, 0, 1}}, []byte("abc")), "strings run past"},
		{"string count 2", blob(true, []ent{{1000, 6, 0, 2}}, []byte("a\x00b\x00")), "count other than 1"},
		{"array runs past", blob(false, []ent{{1000, 8, 0, 3}}, []byte("a\x00b\x00")), "strings run past"},
		{"misaligned int32", blob(true, []ent{{1000, 6, 0, 1}, {1001, 4, 2, 1}}, []byte("a\x00\x00\x00\x00\x01\x00\x00")), "aligned"},
		{"int past end", blob(false, []ent{{1000, 4, 0, 4}}, make([]byte, 8)), "past the data store"},
		{"unknown type", blob(true, []ent{{1000, 12, 0, 1}}, make([]byte, 4)), "unknown type"},
		{"null type", blob(true, []ent{{1000, 0, 0, 1}}, make([]byte, 4)), "unknown type"},
		{"count 0", blob(true, []ent{{1000, 7, 0, 0}}, make([]byte, 4)), "count out of range"},
		{"offset past end", blob(true, []ent{{1000, 7, 400, 1}}, make([]byte, 4)), "offset past the data store"},
		{"string into trailer", blob(true, []ent{{1000, 6, 0, 1}}, []byte("abc")), "region trailer"},
		{"overlap", blob(true, []ent{{1000, 7, 0, 4}, {1001, 7, 2, 2}}, make([]byte, 4)), "overlaps the previous"},
		{"overlaps trailer", blob(true, []ent{{1000, 7, 0, 8}}, make([]byte, 4)), "region trailer"},
		{"duplicate tag", blob(true, []ent{{1000, 7, 0, 1}, {1000, 7, 1, 1}}, make([]byte, 4)), "appears twice"},
		{"low tag", blob(true, []ent{{62, 7, 0, 1}}, make([]byte, 4)), "below 100"},
		{"trailing bytes", append(blob(true, []ent{{1000, 7, 0, 1}}, make([]byte, 1)), 0), "after the data store"},
		{"gap between entries", blob(true, []ent{{1000, 7, 0, 1}, {1001, 7, 2, 1}}, make([]byte, 3)), "account for 18 of 19"},
		{"bytes after the last entry", blob(false, []ent{{1000, 7, 0, 1}}, make([]byte, 2)), "account for 1 of 2"},
		{"region count", func() []byte {
			b := blob(true, []ent{{1000, 7, 0, 1}}, make([]byte, 4))
			binary.BigEndian.PutUint32(b[16+12:], 15)
			return b
		}(), "region tag"},
		{"trailer covers fewer entries", func() []byte {
			b := blob(true, []ent{{1000, 7, 0, 1}}, make([]byte, 4))
			binary.BigEndian.PutUint32(b[len(b)-8:], 0xfffffff0)
			return b
		}(), "region covers 1 of 2"},
		{"too many entries", func() []byte {
			b := blob(true, nil, nil)
			binary.BigEndian.PutUint32(b[8:], header.MaxEntries+1)
			return b
		}(), "more than the limit"},
		{"too much data", func() []byte {
			b := blob(true, nil, nil)
			binary.BigEndian.PutUint32(b[12:], header.MaxData+1)
			return b
		}(), "more than the limit"},
		{"huge claim truncated", func() []byte {
			b := blob(true, nil, nil)
			binary.BigEndian.PutUint32(b[12:], header.MaxData-1<<20)
			return b
		}(), "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := header.Parse(tt.b)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !bytes.Equal(h.Bytes(), tt.b) {
					t.Error("Bytes() differs from the input")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	h, err := header.Parse(tests[0].b)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := h.String(1000); s != "abc" {
		t.Errorf("String = %q", s)
	}
	if s, _ := h.Strings(1001); len(s) != 1 || s[0] != "de" {
		t.Errorf("Strings = %q", s)
	}
	if v, _ := h.Uint32s(1002); len(v) != 2 || v[1] != 7 {
		t.Errorf("Uint32s = %v", v)
	}
	if v, _ := h.Uint64s(1003); len(v) != 1 || v[0] != 42 {
		t.Errorf("Uint64s = %v", v)
	}
	if h.Region() != header.TagHeaderImmutable {
		t.Errorf("Region = %d", h.Region())
	}
}

// TestTruncated cuts a real package at every length: each must fail
// cleanly, and all but the cuts inside the payload must fail in Read.
func TestTruncated(t *testing.T) {
	b := build(t, fixture, rpmtest.Options{Key: rpmtest.TestKey(t, "header")})
	full, err := header.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < int(full.PayloadStart); n++ {
		_, err := header.Read(bytes.NewReader(b[:n]))
		if err == nil {
			t.Fatalf("Read of the first %d bytes succeeded", n)
		}
		if !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("Read of %d bytes: %v, want a truncation error", n, err)
		}
	}
}

func TestLeadErrors(t *testing.T) {
	b := build(t, fixture, rpmtest.Options{})
	tests := []struct {
		name    string
		mutate  func([]byte)
		wantErr string
	}{
		{"magic", func(b []byte) { b[0] = 0 }, "not an rpm package"},
		{"major", func(b []byte) { b[4] = 2 }, "lead version"},
		{"sig type", func(b []byte) { b[79] = 1 }, "signature type"},
		{"sig header magic", func(b []byte) { b[96] = 0 }, "signature header: bad magic"},
		{"sig header entries", func(b []byte) { binary.BigEndian.PutUint32(b[96+8:], 33) }, "more than the limit of 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := append([]byte(nil), b...)
			tt.mutate(c)
			_, err := header.Read(bytes.NewReader(c))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Read error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzReadHeader(f *testing.F) {
	// Unsigned seeds: this package does not look inside signatures, and
	// generating a key in every fuzz worker would cost seconds.
	for _, o := range []rpmtest.Options{{}, {Legacy: true}} {
		b, err := fixture.Build(o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(blob(true, []ent{{1000, 6, 0, 1}, {1001, 8, 4, 1}}, []byte("abc\x00de\x00")))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := header.Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, h := range []*header.Header{p.Signature, p.Header} {
			for _, e := range h.Entries() {
				h.Bin(e.Tag)
				h.String(e.Tag)
				h.Strings(e.Tag)
				h.Ints(e.Tag)
				h.Uint8s(e.Tag)
				h.Uint16s(e.Tag)
				h.Uint32s(e.Tag)
				h.Uint64s(e.Tag)
			}
		}
		p.Header.NEVRA()
		for k := header.Provides; k <= header.Enhances; k++ {
			p.Header.Deps(k)
		}
		if p.PayloadStart > int64(len(b)) {
			t.Fatalf("PayloadStart %d past the %d-byte input", p.PayloadStart, len(b))
		}
		_ = hex.EncodeToString(p.Header.Bytes()[:8])
	})
}

// TestReadsRealRHEL9Package reads a genuine RHEL 9 package, whose
// signature header carries Red Hat's IMA file signatures (tag 274) after
// its region, and compares what it finds with rpm's own reading.
func TestReadsRealRHEL9Package(t *testing.T) {
	rpm := reftest.Tool(t, "rpm")
	path := filepath.Join(reftest.Shared(t, "el9-real-sample"), "apr-1.7.0-12.el9_3.x86_64.rpm")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := header.Read(f)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if p.Signature.Region() != header.TagHeaderSignatures || p.Header.Region() != header.TagHeaderImmutable {
		t.Errorf("regions = %d, %d", p.Signature.Region(), p.Header.Region())
	}
	if last := p.Signature.Entries()[len(p.Signature.Entries())-1]; last.Tag != header.SigFileSignatures {
		t.Errorf("last signature header entry is tag %d, want the appended IMA signatures (274)", last.Tag)
	}
	out, err := exec.Command(rpm, "-qp", "--nosignature", "--qf", `%{NEVRA}\n[%{FILESIGNATURES}\n]`, path).Output()
	if err != nil {
		t.Fatalf("rpm -qp: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	n, err := p.Header.NEVRA()
	if err != nil || n.String() != lines[0] {
		t.Errorf("NEVRA = %v, %v; rpm says %s", n, err, lines[0])
	}
	ima, err := p.Signature.Strings(header.SigFileSignatures)
	if err != nil || strings.Join(ima, "\n") != strings.Join(lines[1:], "\n") {
		t.Errorf("tag 274 = %d strings, %v; rpm's FILESIGNATURES has %d", len(ima), err, len(lines)-1)
	}
}

// TestSignatureHeaderRegion checks rpm's region rules: entries may follow
// the signature header's region, never the main header's.
func TestSignatureHeaderRegion(t *testing.T) {
	// A signature-header region holding SIZE (INT32) and an entry after
	// it, as rpm writes a header it read with a tag put into it.
	region := binary.BigEndian.AppendUint32(nil, 1234)
	withAppended := func(off uint32, trailer []byte) []byte {
		var b bytes.Buffer
		b.Write([]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0})
		d := append(append([]byte(nil), region...), trailer...)
		d = append(d, "ima\x00sig\x00"...)
		binary.Write(&b, binary.BigEndian, []uint32{3, uint32(len(d))})
		binary.Write(&b, binary.BigEndian, []uint32{62, 7, 4, 16, 1000, 4, 0, 1, 274, 8, off, 2})
		b.Write(d)
		return b.Bytes()
	}
	trailer := func(tag uint32, ril int32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(
			binary.BigEndian.AppendUint32(nil, tag), 7), uint32(-16*ril)), 16)
	}
	tests := []struct {
		name    string
		b       []byte
		wantErr string
	}{
		{"entry after the region", withAppended(20, trailer(62, 2)), ""},
		{"HEADERIMAGE trailer, as old packages have", withAppended(20, trailer(61, 2)), ""},
		{"region claims every entry", withAppended(20, trailer(62, 3)), ""},
		{"appended data inside the region", withAppended(0, trailer(62, 2)), "overlaps the previous"},
		{"appended data in the trailer", withAppended(12, trailer(62, 2)), "region trailer"},
		{"trailer claims more entries than the header has", withAppended(20, trailer(62, 4)), "bad region trailer"},
		{"trailer claims no entries", withAppended(20, trailer(62, 0)), "bad region trailer"},
		{"trailer of another region", withAppended(20, trailer(63, 2)), "bad region trailer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := header.ParseSignature(tt.b)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseSignature: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseSignature error = %v, want one containing %q", err, tt.wantErr)
			}
			// The main header's region must cover all of it.
			main := bytes.Clone(tt.b)
			binary.BigEndian.PutUint32(main[16:], 63)
			binary.BigEndian.PutUint32(main[16+48+4:], 63) // the trailer
			if _, err := header.Parse(main); err == nil {
				t.Error("Parse accepted a main header with an entry after its region")
			}
		})
	}
}
