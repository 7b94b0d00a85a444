package keyring_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/keyring"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

func TestLoad(t *testing.T) {
	a, b := rpmtest.TestKey(t, "alpha"), rpmtest.TestKey(t, "beta")
	armA, err := a.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	armB, err := b.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	var binA bytes.Buffer
	if err := a.Entity.Serialize(&binA); err != nil {
		t.Fatal(err)
	}
	var binAB bytes.Buffer
	a.Entity.Serialize(&binAB)
	b.Entity.Serialize(&binAB)

	dir := t.TempDir()
	files := map[string][]byte{
		"RPM-GPG-KEY-a":      armA,
		"RPM-GPG-KEY-bundle": append(append(append([]byte("# two keys\n"), armA...), []byte("\nsome text\n")...), armB...),
		"a.gpg":              binA.Bytes(),
		"ab.gpg":             binAB.Bytes(),
		"garbage":            []byte("not a key\n"),
		"empty":              nil,
		"bad-armor":          []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	client := &download.Client{HTTP: srv.Client(), Attempts: 1, Backoff: time.Millisecond, Timeout: 10 * time.Second}

	tests := []struct {
		name      string
		locations []string
		wantIDs   []uint64
		wantErr   string
	}{
		{"relative armored", []string{"RPM-GPG-KEY-a"}, []uint64{a.KeyID()}, ""},
		{"absolute path", []string{filepath.Join(dir, "RPM-GPG-KEY-a")}, []uint64{a.KeyID()}, ""},
		{"bundle of two", []string{"RPM-GPG-KEY-bundle"}, []uint64{a.KeyID(), b.KeyID()}, ""},
		{"binary", []string{"a.gpg"}, []uint64{a.KeyID()}, ""},
		{"binary two", []string{"ab.gpg"}, []uint64{a.KeyID(), b.KeyID()}, ""},
		{"file URL", []string{"file://" + filepath.Join(dir, "RPM-GPG-KEY-a")}, []uint64{a.KeyID()}, ""},
		{"http URL", []string{srv.URL + "/RPM-GPG-KEY-bundle"}, []uint64{a.KeyID(), b.KeyID()}, ""},
		{"several locations", []string{"a.gpg", srv.URL + "/RPM-GPG-KEY-bundle"}, []uint64{a.KeyID(), a.KeyID(), b.KeyID()}, ""},
		{"missing file", []string{"RPM-GPG-KEY-a", "nope"}, nil, "reading gpg key nope:"},
		{"garbage", []string{"garbage"}, nil, "reading gpg key garbage: not an armored or binary"},
		{"empty", []string{"empty"}, nil, "reading gpg key empty:"},
		{"bad armor", []string{"bad-armor"}, nil, "reading gpg key bad-armor: armored key block 1"},
		{"http 404", []string{srv.URL + "/nope"}, nil, "reading gpg key " + srv.URL + "/nope: GET " + srv.URL + "/nope: 404"},
		{"URL without file", []string{srv.URL + "/"}, nil, "does not name a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := keyring.Load(context.Background(), tt.locations, dir, client)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(keys) != len(tt.wantIDs) {
				t.Fatalf("Load returned %d keys, want %d", len(keys), len(tt.wantIDs))
			}
			for i, k := range keys {
				if k.PrimaryKey.KeyId != tt.wantIDs[i] {
					t.Errorf("key %d = %X, want %X", i, k.PrimaryKey.KeyId, tt.wantIDs[i])
				}
			}
		})
	}
}

func TestLoadTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("x"), keyring.MaxKeyFileSize+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(big) }))
	defer srv.Close()
	client := &download.Client{HTTP: srv.Client(), Attempts: 1, Timeout: 10 * time.Second}
	_, err := keyring.Load(context.Background(), []string{srv.URL + "/key"}, "", client)
	if err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Fatalf("Load error = %v, want a size refusal", err)
	}
}
