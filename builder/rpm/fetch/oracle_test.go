package fetch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/keyring"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// TestAgreesWithRPMKeys checks VerifyFile accepts exactly the packages
// rpmkeys -K accepts (with the same key imported).
func TestAgreesWithRPMKeys(t *testing.T) {
	rpmkeys := reftest.Tool(t, "rpmkeys")
	key, other := rpmtest.TestKey(t, "alpha"), rpmtest.TestKey(t, "beta")
	root := t.TempDir()
	asc := filepath.Join(root, "key.asc")
	if err := key.WritePublicKey(asc); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rpmkeys, "--root", root, "--import", asc).CombinedOutput(); err != nil {
		t.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}
	fix := hello("agree")
	dir := t.TempDir()
	for _, o := range []rpmtest.Options{
		{Key: key}, {Key: key, PayloadSignature: true}, {Key: key, V3: true, Legacy: true}, {Key: key, Legacy: true}, {Key: key, V3: true},
		{Key: other},
		{Key: key, Tamper: rpmtest.TamperPayload}, {Key: key, Tamper: rpmtest.TamperHeader}, {Key: key, Tamper: rpmtest.TamperSignature},
		{Key: key, Tamper: rpmtest.TamperPayloadDigest}, {Key: key, Tamper: rpmtest.TamperHeaderDigest}, {Key: key, Tamper: rpmtest.TamperTruncate},
		{Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperSignature}, {Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperPayload},
		{Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperMD5},
	} {
		path, err := fix.WriteFile(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		pkg := fix.RepoPackage(b)
		ours := fetch.VerifyFile(context.Background(), path, pkg, key.PublicKeys(), true)
		out, rpmErr := exec.Command(rpmkeys, "--root", root, "-K", path).CombinedOutput()
		if (ours == nil) != (rpmErr == nil) {
			t.Errorf("options %+v: VerifyFile error = %v, rpmkeys -K error = %v (%s)", o, ours, rpmErr, strings.TrimSpace(string(out)))
		}
	}
}

// TestRPMSignPackage verifies a package signed by rpmsign with a key gpg
// made, loaded through keyring from gpg's own export: no kiln code on the
// signing side.
func TestRPMSignPackage(t *testing.T) {
	rpmsign := reftest.Tool(t, "rpmsign")
	gpg := reftest.Tool(t, "gpg")
	home := t.TempDir()
	env := append(os.Environ(), "GNUPGHOME="+home)
	run := func(t *testing.T, name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return out
	}
	run(t, gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Kiln Oracle <oracle@kiln.test>", "rsa2048", "sign", "never")
	pub := run(t, gpg, "--armor", "--export", "oracle@kiln.test")
	keyFile := filepath.Join(home, "RPM-GPG-KEY-oracle")
	os.WriteFile(keyFile, pub, 0o644)
	keys, err := keyring.Load(context.Background(), []string{"RPM-GPG-KEY-oracle"}, home, nil)
	if err != nil {
		t.Fatal(err)
	}

	fix := hello("rpmsigned")
	tests := []struct {
		name  string
		extra []string
	}{
		{"header signature", nil},
		{"rpmv3 signatures", []string{"--rpmv3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := fix.WriteFile(t.TempDir(), rpmtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"--define", "_gpg_name oracle@kiln.test", "--define", "_gpg_path " + home, "--define", "__gpg " + gpg, "--addsign"}, tt.extra...)
			run(t, rpmsign, append(args, path)...)
			b, _ := os.ReadFile(path)
			pkg := fix.RepoPackage(b)
			if err := fetch.VerifyFile(context.Background(), path, pkg, keys, true); err != nil {
				t.Fatalf("VerifyFile of an rpmsign-signed package: %v", err)
			}
			other := rpmtest.TestKey(t, "beta")
			if err := fetch.VerifyFile(context.Background(), path, pkg, other.PublicKeys(), true); err == nil {
				t.Fatal("VerifyFile accepted it with an unrelated key")
			}
		})
	}
}
