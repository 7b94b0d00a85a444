package rpmdb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

// sde is the install time the tests ask for: 2024-01-02 03:04:05 UTC.
var sde = time.Unix(1704164645, 0)

// fixture unpacks one of the rpmdbs in testdata (see testdata/README.md:
// real rpm 4.11.3 databases, made twice by the same commands) and returns
// its directory.
func fixture(t testing.TB, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, rel, _ := strings.Cut(h.Name, "/")
		if h.Typeflag != tar.TypeReg || rel == "" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

// differing names the files that differ between two directories, and
// the byte ranges where.
func differing(a, b map[string][]byte) []string {
	var out []string
	for name, x := range a {
		y, ok := b[name]
		switch {
		case !ok:
			out = append(out, name+": only in the first")
		case len(x) != len(y):
			out = append(out, fmt.Sprintf("%s: %d bytes, then %d", name, len(x), len(y)))
		case !bytes.Equal(x, y):
			var at []string
			for i := range x {
				if x[i] != y[i] && len(at) < 8 {
					at = append(at, fmt.Sprint(i))
				}
			}
			out = append(out, fmt.Sprintf("%s: differs at bytes %s...", name, strings.Join(at, ",")))
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			out = append(out, name+": only in the second")
		}
	}
	sort.Strings(out)
	return out
}

func TestTwoRPM411DatabasesOfOneTransactionAreTheSameBytesOnceNormalized(t *testing.T) {
	a, b := fixture(t, "el7-first.tar.gz"), fixture(t, "el7-second.tar.gz")
	if d := differing(files(t, a), files(t, b)); len(d) == 0 {
		t.Fatal("the fixtures are already the same: they cannot show anything")
	}
	for _, dir := range []string{a, b} {
		if err := Normalize(dir, sde); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range differing(files(t, a), files(t, b)) {
		t.Errorf("after Normalize: %s", d)
	}
}

func TestNormalizeTwiceChangesNothing(t *testing.T) {
	dir := fixture(t, "el7-first.tar.gz")
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	once := files(t, dir)
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	for _, d := range differing(once, files(t, dir)) {
		t.Errorf("the second Normalize changed %s", d)
	}
}

// TestRPMReadsTheNormalizedDatabase asks the host's rpm (4.18, its own
// read-only Berkeley DB reader) for every package's install time and
// transaction, through the Packages database and the Name index.
func TestRPMReadsTheNormalizedDatabase(t *testing.T) {
	rpm := reftest.Tool(t, "rpm")
	query := func(dir string, args ...string) string {
		t.Helper()
		argv := append([]string{"--dbpath", dir, "--define", "_db_backend bdb_ro", "-q", "--qf", "%{NAME} %{INSTALLTIME} %{INSTALLTID}\n"}, args...)
		// rpm 4.18 warns on stderr about the indexes rpm 4.11 did not
		// have (Recommendname...).
		var stderr bytes.Buffer
		cmd := exec.Command(rpm, argv...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil && strings.Contains(stderr.String(), "bdb_ro") {
			reftest.Missing(t, "the host's rpm cannot read Berkeley DB: %s", &stderr)
		}
		if err != nil {
			t.Fatalf("rpm %s: %v\n%s", strings.Join(argv, " "), err, &stderr)
		}
		return string(out)
	}
	dir := fixture(t, "el7-first.tar.gz")
	before := query(dir, "-a")
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	after := query(dir, "-a")
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(after), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != "1704164645" || f[2] != "1704164645" {
			t.Errorf("rpm -qa after Normalize: %q, want NAME 1704164645 1704164645", l)
			continue
		}
		names = append(names, f[0])
	}
	sort.Strings(names)
	if want := []string{"basesystem", "centos-release", "ncurses-base", "setup"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("rpm -qa lists %v, want %v (before: %q)", names, want, before)
	}
	if got := query(dir, "ncurses-base"); got != "ncurses-base 1704164645 1704164645\n" {
		t.Errorf("rpm -q ncurses-base (through the Name index): %q", got)
	}
}

// TestBerkeleyDBVerifiesTheNormalizedDatabase runs Berkeley DB's own
// db_verify over every file, and reads the Installtid key back with
// db_dump.
func TestBerkeleyDBVerifiesTheNormalizedDatabase(t *testing.T) {
	reftest.Tools(t, "db5.3_verify", "db5.3_dump")
	dir := fixture(t, "el7-second.tar.gz")
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	for name, b := range files(t, dir) {
		if !isBDB(b) {
			continue
		}
		if out, err := exec.Command("db5.3_verify", "-o", filepath.Join(dir, name)).CombinedOutput(); err != nil {
			t.Errorf("db_verify %s: %v\n%s", name, err, out)
		}
		if id := FileID(name); !bytes.Equal(b[metaUID:metaUID+fileIDLen], id[:]) {
			t.Errorf("%s: file id % x, want % x", name, b[metaUID:metaUID+fileIDLen], id)
		}
	}
	out, err := exec.Command("db5.3_dump", filepath.Join(dir, "Installtid")).CombinedOutput()
	if err != nil {
		t.Fatalf("db_dump Installtid: %v\n%s", err, out)
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], 1704164645)
	lines := strings.Split(string(out), "\n")
	var keys []string
	for i, l := range lines {
		if l == "HEADER=END" && i+1 < len(lines) {
			keys = append(keys, strings.TrimSpace(lines[i+1]))
		}
	}
	if len(keys) != 1 || keys[0] != fmt.Sprintf("%x", key) {
		t.Errorf("db_dump Installtid: first key %v, want %x\n%s", keys, key, out)
	}
}

func TestNormalizeRefusesTwoTransactions(t *testing.T) {
	dir := fixture(t, "el7-first.tar.gz")
	b, err := os.ReadFile(filepath.Join(dir, "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDB("Packages", b)
	if err != nil {
		t.Fatal(err)
	}
	// A second transaction: one package installed a second later.
	if _, err := setOneInstallTID(d, 1704164646); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Packages"), d.buf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Normalize(dir, sde); !errors.Is(err, ErrTransactions) {
		t.Errorf("Normalize over two transactions: %v, want ErrTransactions", err)
	}
}

// setOneInstallTID gives the first package header on the first hash page
// that has one another INSTALLTID.
func setOneInstallTID(d *db, tid uint32) (bool, error) {
	for n := 1; n < d.pages(); n++ {
		p := d.page(n)
		if p[pgType] != pHash {
			continue
		}
		items, err := d.hashItems(n, p)
		if err != nil {
			return false, err
		}
		for i := 0; i < len(items); i += 2 {
			data := items[i+1].b
			if d.order.Uint32(items[i].b[1:]) == 0 || data[0] != hOffPage {
				continue
			}
			pieces, err := d.overflow(d.u32(data, 4), d.u32(data, 8))
			if err != nil {
				return false, err
			}
			_, err = setHeaderTimes(pieces, tid)
			return true, err
		}
	}
	return false, errors.New("no header")
}

func TestNormalizeLeavesOtherDatabasesAlone(t *testing.T) {
	dir := t.TempDir()
	sqlite := []byte("SQLite format 3\x00 and the rest")
	os.WriteFile(filepath.Join(dir, "rpmdb.sqlite"), sqlite, 0o644)
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "rpmdb.sqlite")); !bytes.Equal(b, sqlite) {
		t.Error("an sqlite rpmdb was changed")
	}
	if err := Normalize(filepath.Join(dir, "none"), sde); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
}

func TestNormalizeRemovesTheEnvironment(t *testing.T) {
	dir := fixture(t, "el7-first.tar.gz")
	os.WriteFile(filepath.Join(dir, "__db.001"), []byte("region"), 0o644)
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "__db.001")); !os.IsNotExist(err) {
		t.Errorf("__db.001 is still there: %v", err)
	}
	for _, keep := range []string{".rpm.lock", ".dbenv.lock", "Packages"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}

// TestNormalizeKeepsTheFile checks the file is rewritten in place: a
// label or capability on it (an xattr) and its inode stay.
func TestNormalizeKeepsTheFile(t *testing.T) {
	dir := fixture(t, "el7-first.tar.gz")
	p := filepath.Join(dir, "Packages")
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Normalize(dir, sde); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || before.Mode() != after.Mode() || before.Size() != after.Size() {
		t.Errorf("Packages was replaced: %v, then %v", before, after)
	}
}
