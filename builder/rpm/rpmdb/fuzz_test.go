package rpmdb

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDatabase feeds arbitrary bytes to what Normalize does to one file:
// it may refuse them, never panic or run past them.
func FuzzDatabase(f *testing.F) {
	for _, name := range []string{"Packages", "Installtid", "Basenames"} {
		dir := fixture(f, "el7-first.tar.gz")
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDB("fuzz", b)
		if err != nil {
			return
		}
		n := len(d.buf)
		if tids, err := setInstallTimes(d, 1704164645); err == nil && len(tids) == 1 {
			rekeyInstalltid(d, tids[0], 1704164645)
		}
		rekeyInstalltid(d, 1, 2)
		d.scrub()
		if len(d.buf) != n {
			t.Errorf("length %d, then %d", n, len(d.buf))
		}
	})
}
