package repo

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// ErrSignature marks repository metadata whose OpenPGP signature is
// missing or does not verify with the repo's keys.
var ErrSignature = errors.New("repository metadata signature check failed")

// verifyRepomd checks a detached signature (armored or binary) of
// repomd.xml against keys.
func verifyRepomd(keys openpgp.EntityList, repomd, sig []byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: repo_gpgcheck is on but no gpgkey is configured", ErrSignature)
	}
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN")) {
		_, err = openpgp.CheckArmoredDetachedSignature(keys, bytes.NewReader(repomd), bytes.NewReader(sig), nil)
	} else {
		_, err = openpgp.CheckDetachedSignature(keys, bytes.NewReader(repomd), bytes.NewReader(sig), nil)
	}
	if err != nil {
		return fmt.Errorf("%w: repomd.xml.asc: %v", ErrSignature, err)
	}
	return nil
}
