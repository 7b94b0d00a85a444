package solve

// TEMPORARY: a minimal primary.xml.gz + repomd.xml writer for the libsolv
// differential tests, until the shared writer (builder/rpm/rpmtest) lands;
// then these tests switch to it and this file goes away.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
)

func tmpXMLEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func tmpWriteEntries(b *strings.Builder, tag string, ds []repo.Dep) {
	if len(ds) == 0 {
		return
	}
	fmt.Fprintf(b, "    <rpm:%s>\n", tag)
	for _, d := range ds {
		fmt.Fprintf(b, `      <rpm:entry name="%s"`, tmpXMLEscape(d.Name))
		if d.Flags != repo.Any {
			flag := map[repo.Flag]string{repo.EQ: "EQ", repo.LT: "LT", repo.LE: "LE", repo.GT: "GT", repo.GE: "GE"}[d.Flags]
			fmt.Fprintf(b, ` flags="%s" epoch="%d" ver="%s"`, flag, d.EVR.Epoch, tmpXMLEscape(d.EVR.Version))
			if d.EVR.Release != "" {
				fmt.Fprintf(b, ` rel="%s"`, tmpXMLEscape(d.EVR.Release))
			}
		}
		if d.Pre {
			b.WriteString(` pre="1"`)
		}
		b.WriteString("/>\n")
	}
	fmt.Fprintf(b, "    </rpm:%s>\n", tag)
}

// tmpWriteRepodata writes dir/repodata/{primary.xml.gz,repomd.xml} for
// pkgs, in kiln's canonical package order, and returns the primary path.
// rpmlib() requirements are left out, as createrepo_c does.
func tmpWriteRepodata(dir string, pkgs []*repo.Package) (string, error) {
	pkgs = slices.Clone(pkgs)
	slices.SortStableFunc(pkgs, comparePackages)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">`+"\n", len(pkgs))
	for i, p := range pkgs {
		b.WriteString("<package type=\"rpm\">\n")
		fmt.Fprintf(&b, "  <name>%s</name>\n  <arch>%s</arch>\n", tmpXMLEscape(p.Name), tmpXMLEscape(p.Arch))
		fmt.Fprintf(&b, `  <version epoch="%d" ver="%s" rel="%s"/>`+"\n", p.EVR.Epoch, tmpXMLEscape(p.EVR.Version), tmpXMLEscape(p.EVR.Release))
		sum := sha256.Sum256([]byte(p.NEVRA() + strconv.Itoa(i)))
		fmt.Fprintf(&b, `  <checksum type="sha256" pkgid="YES">%s</checksum>`+"\n", hex.EncodeToString(sum[:]))
		fmt.Fprintf(&b, "  <summary>%s</summary>\n  <description/>\n  <packager/>\n  <url/>\n", tmpXMLEscape(p.Summary))
		b.WriteString(`  <time file="1" build="1"/>` + "\n" + `  <size package="1" installed="1" archive="1"/>` + "\n")
		fmt.Fprintf(&b, `  <location href="%s"/>`+"\n", tmpXMLEscape(p.NEVRA()+".rpm"))
		b.WriteString("  <format>\n")
		var reqs []repo.Dep
		for _, d := range p.Requires {
			if !strings.HasPrefix(d.Name, "rpmlib(") {
				reqs = append(reqs, d)
			}
		}
		tmpWriteEntries(&b, "provides", p.Provides)
		tmpWriteEntries(&b, "requires", reqs)
		tmpWriteEntries(&b, "conflicts", p.Conflicts)
		tmpWriteEntries(&b, "obsoletes", p.Obsoletes)
		tmpWriteEntries(&b, "suggests", p.Suggests)
		tmpWriteEntries(&b, "recommends", p.Recommends)
		tmpWriteEntries(&b, "supplements", p.Supplements)
		tmpWriteEntries(&b, "enhances", p.Enhances)
		for _, f := range p.Files {
			fmt.Fprintf(&b, "    <file>%s</file>\n", tmpXMLEscape(f))
		}
		b.WriteString("  </format>\n</package>\n")
	}
	b.WriteString("</metadata>\n")

	rd := filepath.Join(dir, "repodata")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return "", err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte(b.String())); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	primary := filepath.Join(rd, "primary.xml.gz")
	if err := os.WriteFile(primary, gz.Bytes(), 0o644); err != nil {
		return "", err
	}
	zsum := sha256.Sum256(gz.Bytes())
	osum := sha256.Sum256([]byte(b.String()))
	repomd := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="primary">
    <checksum type="sha256">%s</checksum>
    <open-checksum type="sha256">%s</open-checksum>
    <location href="repodata/primary.xml.gz"/>
    <timestamp>1</timestamp>
    <size>%d</size>
    <open-size>%d</open-size>
  </data>
</repomd>
`, hex.EncodeToString(zsum[:]), hex.EncodeToString(osum[:]), gz.Len(), b.Len())
	if err := os.WriteFile(filepath.Join(rd, "repomd.xml"), []byte(repomd), 0o644); err != nil {
		return "", err
	}
	return primary, nil
}
