package config

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Encoding names how a metadata document is wrapped in a string-valued
// channel such as vSphere guestinfo (guestinfo.kiln.metadata.encoding).
type Encoding string

// The encodings a guestinfo value may use. The empty Encoding is the
// document itself.
const (
	EncodingNone       Encoding = ""
	EncodingBase64     Encoding = "base64"
	EncodingGzipBase64 Encoding = "gzip+base64"
)

// ParseEncoding accepts the values of guestinfo.kiln.metadata.encoding,
// including cloud-init's spellings "b64" and "gz+b64".
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "yaml", "json":
		return EncodingNone, nil
	case "base64", "b64":
		return EncodingBase64, nil
	case "gzip+base64", "gz+b64", "gz+base64", "gzip+b64":
		return EncodingGzipBase64, nil
	}
	return "", fmt.Errorf("%q is not a metadata encoding (want base64 or gzip+base64)", s)
}

// Encode wraps a document for a string channel. gzip output carries no
// name or time, so the same document always encodes to the same string.
func Encode(doc []byte, enc Encoding) (string, error) {
	switch enc {
	case EncodingNone:
		return string(doc), nil
	case EncodingBase64:
		return base64.StdEncoding.EncodeToString(doc), nil
	case EncodingGzipBase64:
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			return "", err
		}
		if _, err := zw.Write(doc); err != nil {
			return "", fmt.Errorf("compressing metadata: %w", err)
		}
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("compressing metadata: %w", err)
		}
		return base64.StdEncoding.EncodeToString(b.Bytes()), nil
	}
	return "", fmt.Errorf("unknown metadata encoding %q", enc)
}

// Decode unwraps a string read from a channel. It never returns more than
// MaxDocumentSize bytes, however well the input compresses.
func Decode(value string, enc Encoding) ([]byte, error) {
	if enc == EncodingNone {
		if len(value) > MaxDocumentSize {
			return nil, fmt.Errorf("metadata is larger than %d bytes", MaxDocumentSize)
		}
		return []byte(value), nil
	}
	if enc != EncodingBase64 && enc != EncodingGzipBase64 {
		return nil, fmt.Errorf("unknown metadata encoding %q", enc)
	}
	// Whitespace is allowed so that wrapped base64 (as `base64` prints it) works.
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(value), ""))
	if err != nil {
		return nil, fmt.Errorf("decoding base64 metadata: %w", err)
	}
	if enc == EncodingBase64 {
		if len(raw) > MaxDocumentSize {
			return nil, fmt.Errorf("metadata is larger than %d bytes", MaxDocumentSize)
		}
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decompressing metadata: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing metadata: %w", err)
	}
	if len(out) > MaxDocumentSize {
		return nil, errors.New("decompressed metadata is larger than the limit")
	}
	return out, nil
}
