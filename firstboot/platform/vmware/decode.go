package vmware

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// MaxValueSize bounds a guestinfo value before decoding. vSphere keeps
// guestinfo values small (well under 64 KiB in practice); the cap only
// protects memory against a hostile or broken value.
const MaxValueSize = 1 << 20

// Encodings accepted in guestinfo.kiln.metadata.encoding, with the aliases
// cloud-init's VMware datasource also accepts.
const (
	EncodingPlain      = ""
	EncodingBase64     = "base64"
	EncodingGzipBase64 = "gzip+base64"
)

// NormalizeEncoding maps an encoding value and its aliases ("b64",
// "gz+b64", any case, surrounding blanks) to one of the Encoding constants.
func NormalizeEncoding(enc string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "":
		return EncodingPlain, nil
	case "base64", "b64":
		return EncodingBase64, nil
	case "gzip+base64", "gz+b64", "gzip+b64", "gz+base64":
		return EncodingGzipBase64, nil
	}
	return "", &platform.BadMetadataError{
		Where: KeyEncoding,
		Err:   fmt.Errorf("unknown encoding %q (want base64, gzip+base64, or empty for plain text)", enc),
	}
}

// Decode turns the value of guestinfo.kiln.metadata into the metadata text,
// following the value of guestinfo.kiln.metadata.encoding. It is pure: no
// I/O. Malformed input returns a *platform.BadMetadataError; the result is
// at most platform.MaxMetadataSize bytes.
func Decode(value, encoding string) ([]byte, error) {
	enc, err := NormalizeEncoding(encoding)
	if err != nil {
		return nil, err
	}
	bad := func(err error) error { return &platform.BadMetadataError{Where: KeyMetadata, Err: err} }
	if len(value) > MaxValueSize {
		return nil, bad(fmt.Errorf("value is %d bytes, over the %d byte limit", len(value), MaxValueSize))
	}
	if enc == EncodingPlain {
		if len(value) > platform.MaxMetadataSize {
			return nil, bad(fmt.Errorf("metadata is %d bytes, over the %d byte limit", len(value), platform.MaxMetadataSize))
		}
		return []byte(value), nil
	}
	raw, err := decodeBase64(value)
	if err != nil {
		return nil, bad(fmt.Errorf("decoding %s: %w", enc, err))
	}
	if enc == EncodingBase64 {
		return raw, nil
	}
	out, err := gunzip(raw, platform.MaxMetadataSize)
	if err != nil {
		return nil, bad(fmt.Errorf("decoding %s: %w", enc, err))
	}
	return out, nil
}

// decodeBase64 accepts standard base64 with or without padding, wrapped
// over several lines the way base64(1) writes it.
func decodeBase64(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	enc := base64.StdEncoding
	if len(clean)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	return enc.DecodeString(clean)
}

// gunzip decompresses b, refusing output over limit bytes.
func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("reading gzip header: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("decompressed metadata is over the %d byte limit", limit)
	}
	return out, nil
}
