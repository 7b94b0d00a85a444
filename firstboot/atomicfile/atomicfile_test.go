package atomicfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

func TestWriteFileReplacesWithModeAndTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1700000000, 0)
	if err := atomicfile.WriteFile(path, []byte("new"), atomicfile.Options{Mode: 0o600, ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "new" || st.Mode().Perm() != 0o600 || !st.ModTime().Equal(mtime) {
		t.Errorf("file = %q, mode %v, mtime %v; want \"new\", 0600, %v", data, st.Mode().Perm(), st.ModTime(), mtime)
	}
	assertOnly(t, dir, "key")
}

func TestModeIsSetBeforeAnyByteAndIgnoresTheUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	f, err := atomicfile.Create(filepath.Join(dir, "pub"), atomicfile.Options{Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("temp file mode %v before writing, want 0644 despite umask 077", st.Mode().Perm())
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestAnUncommittedFileLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.raw")
	os.WriteFile(path, []byte("before"), 0o644)
	f, err := atomicfile.Create(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half of it"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "before" {
		t.Errorf("after an abandoned write the file holds %q, want the old contents", data)
	}
	assertOnly(t, dir, "out.raw")
	if err := f.Commit(); err == nil {
		t.Error("Commit after Close succeeded")
	}
}

func TestAFailedCommitLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub")
	if err := os.Mkdir(path, 0o755); err != nil { // a directory cannot be renamed over
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(path, "x"), nil, 0o644)
	err := atomicfile.WriteFile(path, []byte("data"), atomicfile.Options{})
	if err == nil {
		t.Fatal("WriteFile over a non-empty directory succeeded")
	}
	assertOnly(t, dir, "sub")
}

func TestMakeDirsAndOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "file")
	err := atomicfile.WriteFile(path, nil, atomicfile.Options{MakeDirs: true, Owner: &atomicfile.Owner{UID: os.Getuid(), GID: os.Getgid()}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "c", "file"), nil, atomicfile.Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteFile into a missing directory without MakeDirs = %v, want ErrNotExist", err)
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Errorf("%s holds %v, want only %v", dir, got, names)
	}
}
