package rpmtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/kiln-build/kiln/builder/rpm/repo"
)

// RepoOptions shapes the metadata WriteRepo writes.
type RepoOptions struct {
	// Compression of primary, filelists and other: "gz" (the default),
	// "xz", "zst", "bz2" or "none".
	Compression string
	// SimpleNames writes repodata/primary.xml.gz instead of
	// repodata/<sha256>-primary.xml.gz (createrepo_c's
	// --simple-md-filenames).
	SimpleNames bool
	// Revision is repomd.xml's <revision>; Timestamp every <timestamp>
	// (default 1700000000), so output does not depend on the clock.
	Revision  string
	Timestamp int64
	// SignWith, when set, writes repodata/repomd.xml.asc: an armored
	// detached signature of repomd.xml by this entity.
	SignWith *openpgp.Entity
}

// WriteRepo writes repodata/ under dir for pkgs, in the order given:
// primary, filelists and other metadata and repomd.xml, with checksums
// and sizes as createrepo_c writes them. Package.Files goes whole into
// filelists, and the subset createrepo_c keeps (repo.InPrimary) into
// primary. Only metadata is written: the packages' files, if any, are the
// caller's. The same packages and options give the same bytes. Each file is
// written to a temp file and renamed.
func WriteRepo(dir string, pkgs []*repo.Package, opts RepoOptions) error {
	comp := opts.Compression
	if comp == "" {
		comp = "gz"
	}
	if _, err := compressor(comp, io.Discard); err != nil {
		return err
	}
	ts := opts.Timestamp
	if ts == 0 {
		ts = 1700000000
	}
	rev := opts.Revision
	if rev == "" {
		rev = strconv.FormatInt(ts, 10)
	}
	rd := filepath.Join(dir, "repodata")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return fmt.Errorf("writing repodata: %w", err)
	}
	var md bytes.Buffer
	md.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	md.WriteString(`<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">` + "\n")
	fmt.Fprintf(&md, "  <revision>%s</revision>\n", escape(rev, false))
	for _, kind := range []struct {
		typ   string
		write func(io.Writer, []*repo.Package) error
	}{{"primary", WritePrimary}, {"filelists", WriteFilelists}, {"other", WriteOther}} {
		f, err := writeMetadata(rd, kind.typ, comp, opts.SimpleNames, func(w io.Writer) error { return kind.write(w, pkgs) })
		if err != nil {
			return fmt.Errorf("writing %s metadata: %w", kind.typ, err)
		}
		fmt.Fprintf(&md, "  <data type=%q>\n", kind.typ)
		fmt.Fprintf(&md, "    <checksum type=\"sha256\">%s</checksum>\n", f.sum)
		if comp != "none" {
			fmt.Fprintf(&md, "    <open-checksum type=\"sha256\">%s</open-checksum>\n", f.openSum)
		}
		fmt.Fprintf(&md, "    <location href=\"repodata/%s\"/>\n", escape(f.name, true))
		fmt.Fprintf(&md, "    <timestamp>%d</timestamp>\n", ts)
		fmt.Fprintf(&md, "    <size>%d</size>\n", f.size)
		if comp != "none" {
			fmt.Fprintf(&md, "    <open-size>%d</open-size>\n", f.openSize)
		}
		md.WriteString("  </data>\n")
	}
	md.WriteString("</repomd>\n")
	if err := writeFile(filepath.Join(rd, "repomd.xml"), md.Bytes()); err != nil {
		return err
	}
	asc := filepath.Join(rd, "repomd.xml.asc")
	if opts.SignWith == nil {
		if err := os.Remove(asc); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	sig, err := SignDetached(opts.SignWith, md.Bytes())
	if err != nil {
		return fmt.Errorf("signing repomd.xml: %w", err)
	}
	return writeFile(asc, sig)
}

// SignDetached returns an armored detached signature of data. Output is
// reproducible: the signature time is fixed (2023-11-14, or the signing
// key's creation time when later) and go-crypto's random salt notation is
// off.
func SignDetached(e *openpgp.Entity, data []byte) ([]byte, error) {
	t := fixedTime()
	for _, k := range append([]*packet.PublicKey{e.PrimaryKey}, subkeyPublics(e)...) {
		if k.CreationTime.After(t) {
			t = k.CreationTime
		}
	}
	noSalt := false
	cfg := &packet.Config{Time: func() time.Time { return t }, NonDeterministicSignaturesViaNotation: &noSalt}
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, e, bytes.NewReader(data), cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func subkeyPublics(e *openpgp.Entity) []*packet.PublicKey {
	var out []*packet.PublicKey
	for _, s := range e.Subkeys {
		out = append(out, s.PublicKey)
	}
	return out
}

func fixedTime() time.Time { return time.Unix(1700000000, 0) }

type written struct {
	name           string
	sum, openSum   string
	size, openSize int64
}

// writeMetadata streams one metadata file through the compressor into a
// temp file, hashing both sides, then renames it to its final name.
func writeMetadata(rd, typ, comp string, simple bool, write func(io.Writer) error) (written, error) {
	var out written
	tmp, err := os.CreateTemp(rd, ".tmp-"+typ+"-*")
	if err != nil {
		return out, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	compSum, openSum := sha256.New(), sha256.New()
	compCount := &counter{h: compSum}
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, compCount), 1<<16)
	cw, err := compressor(comp, bw)
	if err != nil {
		return out, err
	}
	openCount := &counter{h: openSum}
	pw := bufio.NewWriterSize(io.MultiWriter(cw, openCount), 1<<16)
	if err := write(pw); err != nil {
		return out, err
	}
	if err := pw.Flush(); err != nil {
		return out, err
	}
	if err := cw.Close(); err != nil {
		return out, err
	}
	if err := bw.Flush(); err != nil {
		return out, err
	}
	if err := tmp.Close(); err != nil {
		return out, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return out, err
	}
	out.sum = hex.EncodeToString(compSum.Sum(nil))
	out.openSum = hex.EncodeToString(openSum.Sum(nil))
	out.size, out.openSize = compCount.n, openCount.n
	out.name = typ + ".xml"
	if comp != "none" {
		out.name += "." + comp
	}
	if !simple {
		out.name = out.sum + "-" + out.name
	}
	if err := os.Rename(tmp.Name(), filepath.Join(rd, out.name)); err != nil {
		return out, err
	}
	return out, nil
}

type counter struct {
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// compressor wraps w in the named compression, deterministically.
func compressor(name string, w io.Writer) (io.WriteCloser, error) {
	switch name {
	case "gz":
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case "xz":
		return xz.NewWriter(w)
	case "zst":
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	case "bz2":
		return bzip2.NewWriter(w, &bzip2.WriterConfig{Level: 6})
	case "none":
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("compression %q: want gz, xz, zst, bz2 or none", name)
}

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WritePrimary writes primary.xml for pkgs, in the layout createrepo_c
// uses. Summary doubles as the description.
func WritePrimary(w io.Writer, pkgs []*repo.Package) error {
	x := &xmlWriter{w: w}
	x.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	x.raw(`<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="`)
	x.raw(strconv.Itoa(len(pkgs)) + "\">\n")
	for _, p := range pkgs {
		x.raw("<package type=\"rpm\">\n")
		x.elem("  ", "name", p.Name)
		x.elem("  ", "arch", p.Arch)
		x.raw(`  <version epoch="` + strconv.FormatUint(uint64(p.EVR.Epoch), 10) + `" ver="`)
		x.attr(p.EVR.Version)
		x.raw(`" rel="`)
		x.attr(p.EVR.Release)
		x.raw("\"/>\n")
		x.raw(`  <checksum type="`)
		x.attr(p.Checksum.Type)
		x.raw(`" pkgid="YES">`)
		x.text(p.Checksum.Value)
		x.raw("</checksum>\n")
		x.elem("  ", "summary", p.Summary)
		x.elem("  ", "description", p.Summary)
		x.raw("  <packager></packager>\n")
		x.elem("  ", "url", p.URL)
		bt := strconv.FormatInt(p.BuildTime, 10)
		x.raw(`  <time file="` + bt + `" build="` + bt + "\"/>\n")
		x.raw(`  <size package="` + strconv.FormatInt(p.Size, 10) + `" installed="` + strconv.FormatInt(p.InstalledSize, 10) + `" archive="` + strconv.FormatInt(p.InstalledSize, 10) + "\"/>\n")
		x.raw(`  <location`)
		if p.LocationBase != "" {
			x.raw(` xml:base="`)
			x.attr(p.LocationBase)
			x.raw(`"`)
		}
		x.raw(` href="`)
		x.attr(p.Location)
		x.raw("\"/>\n")
		x.raw("  <format>\n")
		x.elem("    ", "rpm:license", p.License)
		x.raw("    <rpm:vendor></rpm:vendor>\n    <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>kiln.test</rpm:buildhost>\n")
		x.elem("    ", "rpm:sourcerpm", p.SourceRPM)
		x.raw(`    <rpm:header-range start="` + strconv.FormatInt(p.HeaderStart, 10) + `" end="` + strconv.FormatInt(p.HeaderEnd, 10) + "\"/>\n")
		for _, l := range []struct {
			name string
			deps []repo.Dep
		}{
			{"provides", p.Provides}, {"requires", p.Requires}, {"conflicts", p.Conflicts}, {"obsoletes", p.Obsoletes},
			{"suggests", p.Suggests}, {"recommends", p.Recommends}, {"supplements", p.Supplements}, {"enhances", p.Enhances},
		} {
			x.deps(l.name, l.deps)
		}
		for _, f := range p.Files {
			if repo.InPrimary(f) {
				x.elem("    ", "file", f)
			}
		}
		x.raw("  </format>\n</package>\n")
	}
	x.raw("</metadata>\n")
	return x.err
}

// WriteFilelists writes filelists.xml for pkgs: every path of Files.
func WriteFilelists(w io.Writer, pkgs []*repo.Package) error {
	x := &xmlWriter{w: w}
	x.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	x.raw(`<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="` + strconv.Itoa(len(pkgs)) + "\">\n")
	for _, p := range pkgs {
		x.pkgHeader(p)
		for _, f := range p.Files {
			x.elem("  ", "file", f)
		}
		x.raw("</package>\n")
	}
	x.raw("</filelists>\n")
	return x.err
}

// WriteOther writes other.xml for pkgs, without changelogs.
func WriteOther(w io.Writer, pkgs []*repo.Package) error {
	x := &xmlWriter{w: w}
	x.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	x.raw(`<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="` + strconv.Itoa(len(pkgs)) + "\">\n")
	for _, p := range pkgs {
		x.pkgHeader(p)
		x.raw("</package>\n")
	}
	x.raw("</otherdata>\n")
	return x.err
}

// xmlWriter writes with a sticky error.
type xmlWriter struct {
	w   io.Writer
	err error
	buf []byte
}

func (x *xmlWriter) raw(s string) {
	if x.err == nil {
		_, x.err = io.WriteString(x.w, s)
	}
}

func (x *xmlWriter) attr(s string) { x.escaped(s, true) }
func (x *xmlWriter) text(s string) { x.escaped(s, false) }

func (x *xmlWriter) escaped(s string, attr bool) {
	if x.err == nil {
		x.buf = appendEscaped(x.buf[:0], s, attr)
		_, x.err = x.w.Write(x.buf)
	}
}

func (x *xmlWriter) elem(indent, name, value string) {
	x.raw(indent + "<" + name + ">")
	x.text(value)
	x.raw("</" + name + ">\n")
}

func (x *xmlWriter) pkgHeader(p *repo.Package) {
	x.raw(`<package pkgid="`)
	x.attr(p.Checksum.Value)
	x.raw(`" name="`)
	x.attr(p.Name)
	x.raw(`" arch="`)
	x.attr(p.Arch)
	x.raw("\">\n")
	x.raw(`  <version epoch="` + strconv.FormatUint(uint64(p.EVR.Epoch), 10) + `" ver="`)
	x.attr(p.EVR.Version)
	x.raw(`" rel="`)
	x.attr(p.EVR.Release)
	x.raw("\"/>\n")
}

func (x *xmlWriter) deps(list string, deps []repo.Dep) {
	if len(deps) == 0 {
		return
	}
	x.raw("    <rpm:" + list + ">\n")
	for _, d := range deps {
		x.raw(`      <rpm:entry name="`)
		x.attr(d.Name)
		x.raw(`"`)
		if d.Flags != repo.Any {
			x.raw(` flags="` + flagNames[d.Flags] + `" epoch="` + strconv.FormatUint(uint64(d.EVR.Epoch), 10) + `"`)
			if d.EVR.Version != "" {
				x.raw(` ver="`)
				x.attr(d.EVR.Version)
				x.raw(`"`)
			}
			if d.EVR.Release != "" {
				x.raw(` rel="`)
				x.attr(d.EVR.Release)
				x.raw(`"`)
			}
		}
		if d.Pre {
			x.raw(` pre="1"`)
		}
		x.raw("/>\n")
	}
	x.raw("    </rpm:" + list + ">\n")
}

var flagNames = [...]string{repo.EQ: "EQ", repo.LT: "LT", repo.LE: "LE", repo.GT: "GT", repo.GE: "GE"}

func escape(s string, attr bool) string { return string(appendEscaped(nil, s, attr)) }

// appendEscaped escapes markup characters, and the whitespace an XML
// reader would otherwise normalise, so values read back byte for byte.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	if !strings.ContainsAny(s, "&<>\"'\r\n\t") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		case '\r':
			dst = append(dst, "&#13;"...)
		case '\n', '\t':
			if attr {
				dst = append(dst, "&#"+strconv.Itoa(int(c))+";"...)
			} else {
				dst = append(dst, c)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
