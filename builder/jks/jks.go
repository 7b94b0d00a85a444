// Package jks makes a Java KeyStore (JKS) file reproducible: tools that
// write one, such as p11-kit's `trust extract --format=java-cacerts`
// behind EL's update-ca-trust, stamp every entry with the time of
// writing, so two builds of one image would differ in the keystore.
// MakeReproducible sets every entry's date and seals the store again.
//
// The format (Sun's JavaKeyStore): magic 0xFEEDFEED, version (1 or 2),
// entry count, then per entry a tag (1 private key, 2 trusted
// certificate), an alias and a creation date in milliseconds, and the
// entry's key or certificates; last, a SHA-1 over the password as
// UTF-16BE, the words "Mighty Aphrodite" and every byte before it.
package jks

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"
)

const (
	magic      = 0xFEEDFEED
	digestLen  = sha1.Size
	tagKey     = 1
	tagCert    = 2
	whitener   = "Mighty Aphrodite"
	headerSize = 12
)

// ErrPassword is returned when the keystore is not sealed with the
// password given: it could not be sealed again.
var ErrPassword = errors.New("the keystore's integrity digest does not match the password")

// IsJKS reports whether b starts like a JKS keystore.
func IsJKS(b []byte) bool { return len(b) >= 4 && binary.BigEndian.Uint32(b) == magic }

// MakeReproducible sets the creation date of every entry of the keystore
// in b to t, in place, and seals it again with password, which must be
// the one it was sealed with. The length of b does not change.
func MakeReproducible(b []byte, password string, t time.Time) error {
	if !IsJKS(b) {
		return errors.New("not a JKS keystore")
	}
	if len(b) < headerSize+digestLen {
		return fmt.Errorf("a keystore of %d bytes", len(b))
	}
	body := b[:len(b)-digestLen]
	if !bytes.Equal(digest(body, password), b[len(body):]) {
		return ErrPassword
	}
	dates, err := entryDates(body)
	if err != nil {
		return err
	}
	for _, at := range dates {
		binary.BigEndian.PutUint64(b[at:], uint64(t.UnixMilli()))
	}
	copy(b[len(body):], digest(body, password))
	return nil
}

// Verify reports whether the keystore in b is sealed with password.
func Verify(b []byte, password string) bool {
	return IsJKS(b) && len(b) >= headerSize+digestLen &&
		bytes.Equal(digest(b[:len(b)-digestLen], password), b[len(b)-digestLen:])
}

// Dates returns every entry's creation date.
func Dates(b []byte) ([]time.Time, error) {
	if !IsJKS(b) || len(b) < headerSize+digestLen {
		return nil, errors.New("not a JKS keystore")
	}
	at, err := entryDates(b[:len(b)-digestLen])
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, a := range at {
		out = append(out, time.UnixMilli(int64(binary.BigEndian.Uint64(b[a:]))).UTC())
	}
	return out, nil
}

func digest(body []byte, password string) []byte {
	h := sha1.New()
	for _, c := range utf16.Encode([]rune(password)) {
		h.Write([]byte{byte(c >> 8), byte(c)})
	}
	h.Write([]byte(whitener))
	h.Write(body)
	return h.Sum(nil)
}

// entryDates walks the entries of a keystore without its digest and
// returns where each one's creation date is.
func entryDates(b []byte) ([]int, error) {
	r := reader{b: b, off: 4}
	version := r.u32()
	if r.err == nil && version != 1 && version != 2 {
		return nil, fmt.Errorf("JKS version %d", version)
	}
	n := r.u32()
	var dates []int
	for i := 0; i < n && r.err == nil; i++ {
		tag := r.u32()
		r.utf() // alias
		dates = append(dates, r.off)
		r.skip(8)
		switch tag {
		case tagKey:
			r.skip(r.u32()) // the encrypted private key
			chain := r.u32()
			for j := 0; j < chain && r.err == nil; j++ {
				r.cert(version)
			}
		case tagCert:
			r.cert(version)
		default:
			if r.err == nil {
				return nil, fmt.Errorf("entry %d: tag %d, not a private key or a trusted certificate", i, tag)
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(b)-r.off)
	}
	return dates, nil
}

// reader reads big-endian fields with a sticky error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) skip(n int) {
	if r.err == nil && (n < 0 || n > len(r.b)-r.off) {
		r.err = fmt.Errorf("truncated at byte %d", r.off)
	}
	if r.err == nil {
		r.off += n
	}
}

func (r *reader) u32() int {
	at := r.off
	r.skip(4)
	if r.err != nil {
		return 0
	}
	return int(binary.BigEndian.Uint32(r.b[at:]))
}

func (r *reader) utf() {
	at := r.off
	r.skip(2)
	if r.err == nil {
		r.skip(int(binary.BigEndian.Uint16(r.b[at:])))
	}
}

// cert skips a certificate: its type ("X.509", from version 2 on) and
// its encoding.
func (r *reader) cert(version int) {
	if version == 2 {
		r.utf()
	}
	r.skip(r.u32())
}
