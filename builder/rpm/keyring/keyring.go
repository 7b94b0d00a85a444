// Package keyring loads the OpenPGP public keys a repository's gpgkey
// setting names: local files (relative to the profile's directory),
// file:// URLs or http(s) URLs, armored or binary, several keys per file.
//
//	keys, err := keyring.Load(ctx, []string{"RPM-GPG-KEY-centos", "https://pkgs.k8s.io/.../repomd.xml.key"},
//		profileDir, download.New())
package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kiln-build/kiln/builder/rpm/download"
)

// MaxKeyFileSize bounds what is read from one location. Key files are a
// few kilobytes; a larger answer is not a key file.
const MaxKeyFileSize = 4 << 20

const armorBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

// Load reads every location and returns all the public keys found, in
// order. A location is a file path (relative paths are taken from
// baseDir), a file:// URL or an http(s):// URL fetched with client (nil
// means download.New()). Each location must hold at least one public key.
func Load(ctx context.Context, locations []string, baseDir string, client *download.Client) (openpgp.EntityList, error) {
	if client == nil {
		client = download.New()
	}
	var all openpgp.EntityList
	for _, loc := range locations {
		b, err := read(ctx, loc, baseDir, client)
		if err != nil {
			return nil, fmt.Errorf("reading gpg key %s: %w", loc, err)
		}
		keys, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("reading gpg key %s: %w", loc, err)
		}
		all = append(all, keys...)
	}
	return all, nil
}

func read(ctx context.Context, loc, baseDir string, client *download.Client) ([]byte, error) {
	if !strings.Contains(loc, "://") {
		p := loc
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	// download.Client joins a base and a relative name; split the URL at
	// its last slash so Join puts it back together unchanged.
	i := strings.LastIndexByte(loc, '/')
	if i < 0 || i == len(loc)-1 {
		return nil, errors.New("URL does not name a file")
	}
	var b []byte
	err := client.Fetch(ctx, []string{loc[:i]}, loc[i+1:], func(r io.Reader) error {
		var err error
		b, err = readLimited(r)
		if errors.Is(err, errTooLarge) {
			return download.Reject(err)
		}
		return err
	})
	return b, err
}

var errTooLarge = fmt.Errorf("larger than %d bytes: not a key file", MaxKeyFileSize)

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxKeyFileSize {
		return nil, errTooLarge
	}
	return b, nil
}

// Parse reads public keys from b: one or more ASCII-armored public key
// blocks (text around them is ignored), or binary OpenPGP packets.
func Parse(b []byte) (openpgp.EntityList, error) {
	var keys openpgp.EntityList
	if bytes.Contains(b, []byte(armorBegin)) {
		// openpgp.ReadArmoredKeyRing stops after the first block; files
		// such as RPM-GPG-KEY-* bundles hold several.
		blocks := bytes.Split(b, []byte(armorBegin))
		for i, blk := range blocks[1:] {
			el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(append([]byte(armorBegin), blk...)))
			if err != nil {
				return nil, fmt.Errorf("armored key block %d: %w", i+1, err)
			}
			keys = append(keys, el...)
		}
	} else {
		el, err := openpgp.ReadKeyRing(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("not an armored or binary OpenPGP public key: %w", err)
		}
		keys = el
	}
	if len(keys) == 0 {
		return nil, errors.New("no public keys found")
	}
	return keys, nil
}
