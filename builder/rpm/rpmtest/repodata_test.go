package rpmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kiln-build/kiln/builder/rpm/repo"
)

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(filepath.Join(dir, "repodata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "repodata", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestWriteRepoDeterministicAndConsistent(t *testing.T) {
	key, err := openpgp.NewEntity("k", "", "k@kiln.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: fixedTime})
	if err != nil {
		t.Fatal(err)
	}
	pkgs := GenerateDistro(2, 100)
	for _, comp := range []string{"gz", "xz", "zst", "bz2", "none"} {
		t.Run(comp, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			opts := RepoOptions{Compression: comp, SignWith: key}
			if err := WriteRepo(a, pkgs, opts); err != nil {
				t.Fatal(err)
			}
			if err := WriteRepo(b, pkgs, opts); err != nil {
				t.Fatal(err)
			}
			ta, tb := readTree(t, a), readTree(t, b)
			if len(ta) != 5 { // 3 metadata files, repomd.xml, repomd.xml.asc
				t.Errorf("repodata holds %d files, want 5", len(ta))
			}
			for name, data := range ta {
				if !bytes.Equal(data, tb[name]) {
					t.Errorf("%s differs between two identical writes", name)
				}
				if strings.HasPrefix(name, ".tmp") {
					t.Errorf("temp file %s left behind", name)
				}
			}
			md, err := repo.ParseRepomd(bytes.NewReader(ta["repomd.xml"]))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range md.Data {
				data := ta[filepath.Base(d.Location)]
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != d.Checksum.Value || int64(len(data)) != d.Size {
					t.Errorf("%s: checksum or size does not match repomd.xml", d.Location)
				}
				if comp == "none" && (d.OpenSize != 0 || d.OpenChecksum.Value != "") {
					t.Errorf("%s: uncompressed data with open-size %d", d.Location, d.OpenSize)
				}
			}
			if _, err := openpgp.CheckArmoredDetachedSignature(openpgp.EntityList{key}, bytes.NewReader(ta["repomd.xml"]), bytes.NewReader(ta["repomd.xml.asc"]), nil); err != nil {
				t.Errorf("repomd.xml.asc does not verify: %v", err)
			}
		})
	}
}

func TestWriteRepoRejectsUnknownCompression(t *testing.T) {
	err := WriteRepo(t.TempDir(), nil, RepoOptions{Compression: "lz4"})
	if err == nil || !strings.Contains(err.Error(), `"lz4"`) {
		t.Errorf("error %v, want one naming the compression", err)
	}
}

func TestWriteRepoRemovesStaleSignature(t *testing.T) {
	dir := t.TempDir()
	key, _ := openpgp.NewEntity("k", "", "k@kiln.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err := WriteRepo(dir, nil, RepoOptions{SignWith: key}); err != nil {
		t.Fatal(err)
	}
	if err := WriteRepo(dir, nil, RepoOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "repodata/repomd.xml.asc")); !os.IsNotExist(err) {
		t.Errorf("an unsigned rewrite kept the old signature (stat: %v)", err)
	}
}

func TestGenerateDistro(t *testing.T) {
	for _, n := range []int{1, 4, 5, 11, 100, 2000} {
		pkgs := GenerateDistro(9, n)
		if want := max(n, 4); len(pkgs) != want {
			t.Errorf("GenerateDistro(9, %d) gave %d packages, want %d", n, len(pkgs), want)
		}
	}
	a, b := GenerateDistro(5, 500), GenerateDistro(5, 500)
	var wa, wb bytes.Buffer
	WritePrimary(&wa, a)
	WritePrimary(&wb, b)
	if !bytes.Equal(wa.Bytes(), wb.Bytes()) {
		t.Error("the same seed gave different distributions")
	}

	// Every dependency must be satisfiable within the distribution: by a
	// provide (any version is good enough for this check), a file, or, for
	// rich dependencies, by the package names they mention.
	pkgs := GenerateDistro(5, 3000)
	provided := map[string]bool{}
	nevras := map[string]bool{}
	var stats struct{ provides, requires, files, rich, fileDeps, obsoletes, older int }
	names := map[string]int{}
	for _, p := range pkgs {
		names[p.Name]++
		if nevras[p.NEVRA()] {
			t.Errorf("duplicate package %s", p)
		}
		nevras[p.NEVRA()] = true
		for _, d := range p.Provides {
			provided[d.Name] = true
		}
		for _, f := range p.Files {
			provided[f] = true
		}
		stats.provides += len(p.Provides)
		stats.files += len(p.Files)
		stats.obsoletes += len(p.Obsoletes)
	}
	for _, p := range pkgs {
		for _, d := range p.Requires {
			stats.requires++
			switch {
			case strings.HasPrefix(d.Name, "("):
				stats.rich++
				for _, w := range strings.Fields(strings.Trim(d.Name, "()")) {
					if w != "if" && w != "or" && w != "and" && !provided[w] {
						t.Errorf("%s: rich dependency %s names unknown %s", p, d.Name, w)
					}
				}
			case !provided[d.Name]:
				t.Errorf("%s requires %s, which nothing provides", p, d)
			case strings.HasPrefix(d.Name, "/") && !repo.InPrimary(d.Name):
				stats.fileDeps++
			}
		}
	}
	for _, c := range names {
		if c > 1 {
			stats.older++
		}
	}
	n := len(pkgs)
	t.Logf("per package: %.1f provides, %.1f requires, %.1f files; %d rich, %d filelists-only file deps, %d obsoletes, %d names in two versions",
		float64(stats.provides)/float64(n), float64(stats.requires)/float64(n), float64(stats.files)/float64(n), stats.rich, stats.fileDeps, stats.obsoletes, stats.older)
	if stats.rich == 0 || stats.fileDeps == 0 || stats.obsoletes == 0 || stats.older == 0 {
		t.Errorf("distribution lacks a promised shape: %+v", stats)
	}
	if r := float64(stats.requires) / float64(n); r < 10 {
		t.Errorf("%.1f requires per package, want about 15", r)
	}
	arches := map[string]bool{}
	for _, p := range pkgs {
		arches[p.Arch] = true
	}
	if !arches["i686"] || !arches["noarch"] || !arches["x86_64"] {
		t.Errorf("arches %v, want x86_64, noarch and i686", arches)
	}
}
