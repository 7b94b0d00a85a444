package fetch_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/keyring"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// TestAgreesWithRPMKeys checks VerifyFile accepts exactly the packages
// rpm accepts (with the same key imported): rpmkeys -K finds every digest
// and signature good, and rpm -qp, which also loads both headers as an
// install does, reads the package.
func TestAgreesWithRPMKeys(t *testing.T) {
	rpmkeys := reftest.Tool(t, "rpmkeys")
	rpm := reftest.Tool(t, "rpm")
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
	ima := []rpmtest.Tag{rpmtest.IMASignatures(len(fix.Files))}
	dir := t.TempDir()
	type verdict struct {
		o  rpmtest.Options
		ok bool // rpm, and so kiln, accepts the package
	}
	good := func(o rpmtest.Options) verdict { return verdict{o, true} }
	bad := func(o rpmtest.Options) verdict { return verdict{o, false} }
	for _, tc := range []verdict{
		good(rpmtest.Options{Key: key}), good(rpmtest.Options{Key: key, PayloadSignature: true}),
		good(rpmtest.Options{Key: key, V3: true, Legacy: true}), good(rpmtest.Options{Key: key, Legacy: true}),
		good(rpmtest.Options{Key: key, V3: true}),
		bad(rpmtest.Options{Key: other}),
		bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperPayload}), bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperHeader}),
		bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperSignature}), bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperPayloadDigest}),
		bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperHeaderDigest}), bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperTruncate}),
		bad(rpmtest.Options{Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperSignature}),
		bad(rpmtest.Options{Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperPayload}),
		bad(rpmtest.Options{Key: key, V3: true, Legacy: true, Tamper: rpmtest.TamperMD5}),
		// Tags appended after the signature header's region, as Red Hat
		// signs every RHEL 9 package: accepted.
		good(rpmtest.Options{Key: key, Appended: ima}), good(rpmtest.Options{Key: key, V3: true, Legacy: true, Appended: ima}),
		// Broken variants of that layout, and a tag after the main
		// header's region (digested and signed, so only the region rule
		// refuses it): refused. rpmkeys -K accepts the gap, which only
		// rpm -qp (loading the header, as an install does) refuses.
		bad(rpmtest.Options{Key: key, Appended: ima, Tamper: rpmtest.TamperAppendedOverlap}),
		bad(rpmtest.Options{Key: key, Appended: ima, Tamper: rpmtest.TamperAppendedTrailer}),
		bad(rpmtest.Options{Key: key, Appended: ima, Tamper: rpmtest.TamperAppendedGap}),
		bad(rpmtest.Options{Key: key, Appended: ima, Tamper: rpmtest.TamperRegionTrailer}),
		bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperRegionTrailer}),
		bad(rpmtest.Options{Key: key, Tamper: rpmtest.TamperMainAppended}),
		bad(rpmtest.Options{Key: key, Appended: ima, Tamper: rpmtest.TamperMainAppended}),
	} {
		o := tc.o
		path, err := fix.WriteFile(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		pkg := fix.RepoPackage(b)
		ours := fetch.VerifyFile(context.Background(), path, pkg, key.PublicKeys(), true)
		out, rpmErr := exec.Command(rpmkeys, "--root", root, "-K", path).CombinedOutput()
		if rpmErr == nil {
			out, rpmErr = exec.Command(rpm, "--root", root, "-qp", path).CombinedOutput()
		}
		if (ours == nil) != (rpmErr == nil) {
			t.Errorf("options %+v: VerifyFile error = %v, rpm error = %v (%s)", o, ours, rpmErr, strings.TrimSpace(string(out)))
		}
		if (ours == nil) != tc.ok {
			t.Errorf("options %+v: VerifyFile error = %v, want accepted = %v", o, ours, tc.ok)
		}
	}
}

// TestAppendedDuplicateTagRefused: a second, wrong SHA-256 header digest
// appended after the signature header's region. rpmkeys -K checks the
// first copy and passes; the header rpm loads for an install keeps the
// appended one and records it in the rpmdb. kiln refuses the ambiguity,
// deliberately stricter than rpm.
func TestAppendedDuplicateTagRefused(t *testing.T) {
	key := rpmtest.TestKey(t, "alpha")
	fix := hello("duplicate")
	path, err := fix.WriteFile(t.TempDir(), rpmtest.Options{Key: key, Tamper: rpmtest.TamperAppendedDuplicate})
	if err != nil {
		t.Fatal(err)
	}
	err = fetch.VerifyFile(context.Background(), path, nil, key.PublicKeys(), true)
	if !errors.Is(err, fetch.ErrMalformed) || !strings.Contains(err.Error(), "tag 273 appears twice") {
		t.Errorf("VerifyFile = %v, want a malformed package with tag 273 twice", err)
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

// TestRealRHEL9Package verifies a genuine RHEL 9 package (IMA file
// signatures appended after its signature header's region) with Red Hat's
// key, as rpmkeys -K does, and refuses broken copies of it as rpm does.
func TestRealRHEL9Package(t *testing.T) {
	rpmkeys := reftest.Tool(t, "rpmkeys")
	dir := reftest.Shared(t, "el9-real-sample")
	const keyFile = "RPM-GPG-KEY-redhat-release-key2.asc"
	keys, err := keyring.Load(context.Background(), []string{keyFile}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if out, err := exec.Command(rpmkeys, "--root", root, "--import", filepath.Join(dir, keyFile)).CombinedOutput(); err != nil {
		t.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}
	real, err := os.ReadFile(filepath.Join(dir, "apr-1.7.0-12.el9_3.x86_64.rpm"))
	if err != nil {
		t.Fatal(err)
	}
	// Offsets in the real file: the signature header's index starts at
	// 96+16; entry 9 is the appended tag 274; the region trailer is at
	// data offset 5348.
	const index, data = 96 + 16, 96 + 16 + 16*10
	p, err := header.Read(bytes.NewReader(real))
	if err != nil {
		t.Fatal(err)
	}
	hdrData := int(p.HeaderStart) + 16 + 16*(len(p.Header.Entries())+1)
	patch := func(at int, v uint32) []byte {
		b := bytes.Clone(real)
		binary.BigEndian.PutUint32(b[at:], v)
		return b
	}
	flip := func(at int) []byte {
		b := bytes.Clone(real)
		b[at] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"as Red Hat published it", real, true},
		// Nothing signs the signature header: rpm accepts a changed IMA
		// signature (IMA itself checks it when a file is used).
		{"appended IMA signature changed", flip(data + 5364 + 10), true},
		{"appended data moved into the region", patch(index+16*9+8, 0), false},
		{"appended data moved into the trailer", patch(index+16*9+8, 5352), false},
		{"trailer claims the appended entry and one more", patch(data+5348+8, 1<<32-16*11), false},
		{"main header data changed", flip(hdrData + 100), false},
		{"payload changed", flip(len(real) - 100), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "apr.rpm")
			if err := os.WriteFile(path, tt.b, 0o644); err != nil {
				t.Fatal(err)
			}
			ours := fetch.VerifyFile(context.Background(), path, nil, keys, true)
			out, rpmErr := exec.Command(rpmkeys, "--root", root, "-K", path).CombinedOutput()
			if (ours == nil) != (rpmErr == nil) || (ours == nil) != tt.ok {
				t.Errorf("VerifyFile = %v; rpmkeys -K: %v %s; want accepted = %v", ours, rpmErr, strings.TrimSpace(string(out)), tt.ok)
			}
		})
	}
	other := rpmtest.TestKey(t, "beta")
	if err := fetch.VerifyFile(context.Background(), filepath.Join(dir, "apr-1.7.0-12.el9_3.x86_64.rpm"), nil, other.PublicKeys(), true); !errors.Is(err, fetch.ErrUnknownKey) {
		t.Errorf("VerifyFile with another key = %v, want %v", err, fetch.ErrUnknownKey)
	}
}

// TestRealCentOS7Packages verifies every real CentOS 7.9 package in
// ../shared/el7-real with the CentOS 7 key: rpm reads and installs all
// of them, so kiln's header rules must accept all of them.
func TestRealCentOS7Packages(t *testing.T) {
	dir := reftest.Shared(t, "el7-real")
	keys, err := keyring.Load(context.Background(), []string{"RPM-GPG-KEY-CentOS-7"}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "centos-7.9.2009-base", "*.rpm"))
	if len(paths) < 400 {
		t.Fatalf("%d packages in %s, want the 433 its README lists", len(paths), dir)
	}
	for _, p := range paths {
		if err := fetch.VerifyFile(context.Background(), p, nil, keys, true); err != nil {
			t.Errorf("VerifyFile: %v", err)
		}
	}
}
