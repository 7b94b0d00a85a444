package fetch_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// BenchmarkVerifyFile measures a full verification (checksum, digests,
// V4 signature) of an 8 MiB package, next to rpmkeys -K on the same file.
func BenchmarkVerifyFile(b *testing.B) {
	key := rpmtest.TestKey(b, "bench")
	rnd := rand.New(rand.NewPCG(1, 2))
	content := make([]byte, 8<<20)
	for i := range content {
		content[i] = byte(rnd.Uint32())
	}
	fix := rpmtest.Package{Name: "big", Version: "1", Files: []rpmtest.File{{Path: "/big", Content: string(content)}}}
	dir := b.TempDir()
	path, err := fix.WriteFile(dir, rpmtest.Options{Key: key})
	if err != nil {
		b.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	pkg := fix.RepoPackage(data)
	keys := key.PublicKeys()
	b.Run("kiln", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := fetch.VerifyFile(context.Background(), path, pkg, keys, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rpmkeys", func(b *testing.B) {
		rpmkeys := reftest.Tool(b, "rpmkeys")
		root := b.TempDir()
		asc := filepath.Join(root, "key.asc")
		key.WritePublicKey(asc)
		if out, err := exec.Command(rpmkeys, "--root", root, "--import", asc).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if out, err := exec.Command(rpmkeys, "--root", root, "-K", path).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}
