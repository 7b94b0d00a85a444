package ovafile

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
)

func TestOpenKilnOVA(t *testing.T) {
	dir := t.TempDir()
	path := vspheretest.WriteOVA(t, dir, "kiln-node", 1)
	a, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if a.SHA256 != hex.EncodeToString(sum[:]) || a.Size != int64(len(b)) {
		t.Errorf("SHA256 %s size %d, want %x %d", a.SHA256, a.Size, sum, len(b))
	}
	if a.Descriptor != "kiln-node.ovf" || a.Manifest != "kiln-node.mf" || len(a.Files) != 3 {
		t.Fatalf("archive %+v", a)
	}
	// Every entry's offset and size point at its bytes, as tar reads them.
	tr := tar.NewReader(bytes.NewReader(b))
	for _, f := range a.Files {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(tr)
		if h.Name != f.Name || !bytes.Equal(b[f.Offset:f.Offset+f.Size], want) {
			t.Errorf("%s: offset %d size %d do not hold the entry", f.Name, f.Offset, f.Size)
		}
		r, n, err := a.OpenFile(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if n != f.Size || !bytes.Equal(got, want) {
			t.Errorf("OpenFile(%s) = %d bytes, want %d", f.Name, len(got), len(want))
		}
	}
	if !bytes.Contains(a.OVF, []byte("<Envelope")) {
		t.Errorf("OVF %q", a.OVF[:min(len(a.OVF), 100)])
	}
	if _, _, err := a.OpenFile("nope.vmdk"); err == nil {
		t.Error("OpenFile of a missing entry succeeded")
	}
}

// TestTamperedDisk flips a byte inside the VMDK: the digest no longer
// matches the manifest and Open says which file.
func TestTamperedDisk(t *testing.T) {
	dir := t.TempDir()
	path := vspheretest.WriteOVA(t, dir, "kiln-node", 1)
	a, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	vmdk := a.Files[2]
	b, _ := os.ReadFile(path)
	b[vmdk.Offset+vmdk.Size/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), path)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "kiln-node-disk1.vmdk: SHA256 digest does not match") {
		t.Fatalf("Open of a tampered OVA: %v", err)
	}
}

type entry struct{ name, body string }

func archive(t testing.TB, ents ...entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func sha1hex(s string) string { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestReadRejects(t *testing.T) {
	ovf, disk := "<Envelope/>", "disk bytes"
	good := "SHA256(a.ovf)= " + sha(ovf) + "\nSHA256(a-disk1.vmdk)= " + sha(disk) + "\n"
	for _, tc := range []struct {
		name string
		ents []entry
		want string
	}{
		{"ok", []entry{{"a.ovf", ovf}, {"a.mf", good}, {"a-disk1.vmdk", disk}}, ""},
		{"sha1 ok", []entry{{"a.ovf", ovf}, {"a.mf", "SHA1(a.ovf)= " + sha1hex(ovf) + "\n"}}, ""},
		{"sha1 mismatch", []entry{{"a.ovf", ovf}, {"a.mf", "SHA1(a.ovf)= 6d7b4dfcbbd8d95c6ec5d68dc0b1eae04b2b8e32\n"}}, "SHA1 digest does not match"},
		{"descriptor not first", []entry{{"a.mf", good}, {"a.ovf", ovf}}, "first entry \"a.mf\" is not the OVF descriptor"},
		{"no manifest", []entry{{"a.ovf", ovf}, {"a-disk1.vmdk", disk}}, "no manifest"},
		{"unlisted file", []entry{{"a.ovf", ovf}, {"a.mf", "SHA256(a.ovf)= " + sha(ovf) + "\n"}, {"a-disk1.vmdk", disk}}, "a-disk1.vmdk is not listed in a.mf"},
		{"listed missing", []entry{{"a.ovf", ovf}, {"a.mf", good}}, "lists a-disk1.vmdk, which is not in the archive"},
		{"tampered ovf", []entry{{"a.ovf", ovf + " "}, {"a.mf", good}, {"a-disk1.vmdk", disk}}, "a.ovf: SHA256 digest does not match"},
		{"directory", []entry{{"a.ovf", ovf}, {"../x", ""}}, "want a plain file name"},
		{"twice", []entry{{"a.ovf", ovf}, {"a.mf", good}, {"a-disk1.vmdk", disk}, {"a-disk1.vmdk", disk}}, "appears twice"},
		{"two ovf", []entry{{"a.ovf", ovf}, {"b.ovf", ovf}}, "a second OVF descriptor"},
		{"bad line", []entry{{"a.ovf", ovf}, {"a.mf", "MD5(a.ovf)= 00\n"}}, "line 1: \"MD5(a.ovf)= 00\" is not"},
		{"short digest", []entry{{"a.ovf", ovf}, {"a.mf", "SHA256(a.ovf)= 00\n"}}, "has 64 hex digits, not 2"},
		{"empty", nil, "no OVF descriptor"},
	} {
		_, err := Read(context.Background(), bytes.NewReader(archive(t, tc.ents...)))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Read(context.Background(), strings.NewReader("not a tar file at all, just some text that is long enough")); err == nil {
		t.Error("Read of a non-tar succeeded")
	}
}

func TestReadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Read(ctx, bytes.NewReader(archive(t, entry{"a.ovf", "x"})))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	ovf, disk := "<Envelope/>", "disk bytes"
	f.Add(archive(f, entry{"a.ovf", ovf}, entry{"a.mf", "SHA256(a.ovf)= " + sha(ovf) + "\nSHA256(a-disk1.vmdk)= " + sha(disk) + "\n"}, entry{"a-disk1.vmdk", disk}))
	f.Add([]byte("SHA256(x)= 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(context.Background(), bytes.NewReader(b))
		if err == nil && (a.Descriptor == "" || a.Manifest == "" || a.Size != int64(len(b))) {
			t.Fatalf("accepted archive %+v of %d bytes", a, len(b))
		}
	})
}
