package format

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// Sum of a sparse file equals sha256 of all its bytes, whether or not
// the size is a whole number of blocks.
func TestSumMatchesReadingEverything(t *testing.T) {
	for _, size := range []int64{512, 3<<20 + 512, 8 << 20} {
		p := filepath.Join(t.TempDir(), "disk.raw")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size)
		f.WriteAt([]byte("kiln"), 0)
		if size > 2<<20 {
			f.WriteAt([]byte("data in the middle"), 2<<20+100)
		}
		got, err := Sum(f, size)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		all, _ := os.ReadFile(p)
		want := sha256.Sum256(all)
		if got != hex.EncodeToString(want[:]) {
			t.Errorf("size %d: Sum = %s, want %x", size, got, want)
		}
	}
}
