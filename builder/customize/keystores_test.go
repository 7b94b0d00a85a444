package customize

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/jks"
)

// TestUpdateCATrustsJavaKeystoreIsDatedTheBuildTime puts a keystore,
// made by keytool at the time builder/jks/testdata says, where
// update-ca-trust writes one: customize dates every entry with ModTime
// and the store still verifies with its password.
func TestUpdateCATrustsJavaKeystoreIsDatedTheBuildTime(t *testing.T) {
	ks, err := os.ReadFile("../jks/testdata/trusted-first.jks")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	p := filepath.Join(root, "etc/pki/ca-trust/extracted/java/cacerts")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, ks, 0o444); err != nil {
		t.Fatal(err)
	}
	sde := time.Unix(1704164645, 0)
	if err := dateKeystores(Options{Root: root, ModTime: sde}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dates, err := jks.Dates(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dates {
		if !d.Equal(sde) {
			t.Errorf("an entry dated %v, want %v", d, sde)
		}
	}
	if len(dates) != 2 || !jks.Verify(got, "changeit") {
		t.Errorf("%d entries, digest verifies: %v", len(dates), jks.Verify(got, "changeit"))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o444 {
		t.Errorf("mode %v, want 0444", st.Mode())
	}
	// Without the keystore, nothing to do.
	if err := dateKeystores(Options{Root: t.TempDir(), ModTime: sde}); err != nil {
		t.Errorf("a tree without the keystore: %v", err)
	}
}
