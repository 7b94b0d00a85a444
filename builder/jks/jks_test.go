package jks

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

var sde = time.Unix(1704164645, 0)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTwoKeystoresOfTheSameCertificatesAreTheSameBytesOnceReproducible(t *testing.T) {
	a, b := read(t, "trusted-first.jks"), read(t, "trusted-second.jks")
	if bytes.Equal(a, b) {
		t.Fatal("the fixtures are already the same: they cannot show anything")
	}
	for _, ks := range [][]byte{a, b} {
		if err := MakeReproducible(ks, "changeit", sde); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a, b) {
		t.Error("the keystores still differ")
	}
}

func TestMakeReproducibleSetsEveryDateAndSealsAgain(t *testing.T) {
	for _, name := range []string{"trusted-first.jks", "key.jks"} {
		t.Run(name, func(t *testing.T) {
			b := read(t, name)
			n := len(b)
			if err := MakeReproducible(b, "changeit", sde); err != nil {
				t.Fatal(err)
			}
			if len(b) != n {
				t.Errorf("length %d, then %d", n, len(b))
			}
			dates, err := Dates(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(dates) != 2 {
				t.Errorf("%d entries, want 2", len(dates))
			}
			for _, d := range dates {
				if !d.Equal(sde) {
					t.Errorf("an entry dated %v, want %v", d, sde)
				}
			}
			if !Verify(b, "changeit") {
				t.Error("the digest does not verify")
			}
			keytoolList(t, b)
		})
	}
}

// keytoolList has the JDK's keytool read the keystore: it checks the
// digest with the password (a mismatch is "Keystore was tampered with,
// or password was incorrect") and prints each entry's date.
func keytoolList(t *testing.T, b []byte) {
	t.Helper()
	keytool := reftest.Tool(t, "keytool")
	p := filepath.Join(t.TempDir(), "ks.jks")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(keytool, "-list", "-v", "-storetype", "JKS", "-keystore", p, "-storepass", "changeit")
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keytool -list: %v\n%s", err, out)
	}
	n := strings.Count(string(out), "Creation date: Jan 2, 2024")
	if n != 2 {
		t.Errorf("keytool -list shows %d entries created on Jan 2, 2024, want 2:\n%s", n, out)
	}
}

func TestMakeReproducibleRefusesAnotherPassword(t *testing.T) {
	b := read(t, "trusted-first.jks")
	orig := append([]byte{}, b...)
	if err := MakeReproducible(b, "not-it", sde); !errors.Is(err, ErrPassword) {
		t.Errorf("MakeReproducible with the wrong password: %v, want ErrPassword", err)
	}
	if !bytes.Equal(b, orig) {
		t.Error("the keystore was changed")
	}
}

func TestMakeReproducibleRefusesWhatIsNotAKeystore(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     {},
		"PKCS#12":   {0x30, 0x82, 0x0a, 0x00, 0x02, 0x01, 0x03},
		"truncated": read(t, "key.jks")[:100],
	} {
		if err := MakeReproducible(b, "changeit", sde); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzDates(f *testing.F) {
	for _, name := range []string{"key.jks", "trusted-first.jks"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Dates(b)
		c := append([]byte{}, b...)
		if MakeReproducible(c, "changeit", sde) == nil && len(c) != len(b) {
			t.Error("length changed")
		}
	})
}
