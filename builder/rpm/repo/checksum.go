package repo

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
)

// hashFor returns a new hash for a repodata checksum type. "sha" is yum's
// old name for sha1. md5 is not accepted.
func hashFor(typ string) (hash.Hash, bool) {
	switch typ {
	case "sha", "sha1":
		return sha1.New(), true
	case "sha224":
		return sha256.New224(), true
	case "sha256":
		return sha256.New(), true
	case "sha384":
		return sha512.New384(), true
	case "sha512":
		return sha512.New(), true
	}
	return nil, false
}

// valid checks the type is known and the value is hex of the right length.
func (c Checksum) valid() error {
	h, ok := hashFor(c.Type)
	if !ok {
		return fmt.Errorf("unsupported checksum type %q (want sha1, sha224, sha256, sha384 or sha512)", short(c.Type))
	}
	if len(c.Value) != 2*h.Size() {
		return fmt.Errorf("%s value %q has %d hex digits, want %d", c.Type, short(c.Value), len(c.Value), 2*h.Size())
	}
	if _, err := hex.DecodeString(c.Value); err != nil {
		return fmt.Errorf("%s value %q is not hex", c.Type, short(c.Value))
	}
	return nil
}

// short truncates hostile strings quoted in error messages.
func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
