package rpmtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kiln-build/kiln/builder/rpm/header"
)

// Options says how Build signs (or breaks) a package.
type Options struct {
	// Key signs the package; nil leaves it unsigned.
	Key *Key
	// V3 writes version 3 RSA/SHA-256 signature packets, as CentOS 7
	// packages carry, instead of version 4 ones.
	V3 bool
	// Legacy lays the package out as rpm 4.11 (CentOS 7) did: no payload
	// digest in the main header, only SHA-1 and MD5 digests in the
	// signature header, and signed packages signed twice (header only, and
	// header+payload).
	Legacy bool
	// PayloadSignature also signs header+payload (signature tag 1002) in
	// the modern layout, as rpm 4.14-4.16 did.
	PayloadSignature bool
	// Appended are tags added to the signature header after signing, laid
	// out as rpm's headerExport writes tags put into a header it read from
	// a package: index entries after the region's, data after the region
	// trailer. Red Hat adds its IMA file signatures (tag 274) this way.
	Appended []Tag
	// Tamper breaks the result in one way, for negative tests.
	Tamper Tamper
}

// Tag is one header entry for Options.Appended.
type Tag struct {
	Tag   header.Tag
	Type  header.Type
	Count uint32
	Data  []byte // encoded as in a header: big endian, strings NUL-terminated
}

// IMASignatures is a signature-header tag 274 holding one string per
// file, as Red Hat's signing service appends to every RHEL 9 package
// (fake signature values: rpm checks them only when IMA is enforced).
func IMASignatures(files int) Tag {
	var d []byte
	for i := range files {
		d = append(d, fmt.Sprintf("030204%08x", i)...)
		d = append(d, 0)
	}
	return Tag{Tag: header.SigFileSignatures, Type: header.TypeStringArray, Count: uint32(files), Data: d}
}

// Tamper is one deliberate corruption.
type Tamper int

// The corruptions Build can apply.
const (
	TamperNone Tamper = iota
	// TamperPayload flips a payload byte after signing: the payload digest,
	// MD5 and header+payload signature no longer match.
	TamperPayload
	// TamperHeader changes a byte of the main header after signing (inside
	// the summary): the header digests and signatures no longer match.
	TamperHeader
	// TamperSignature flips a bit of every OpenPGP signature value; the
	// digests still match.
	TamperSignature
	// TamperPayloadDigest makes the main header claim a wrong payload
	// digest; header digests and signatures are computed over that header,
	// so only the payload digest check can catch it.
	TamperPayloadDigest
	// TamperHeaderDigest stores a wrong SHA-256 (or, in the legacy layout,
	// SHA-1) header digest in the signature header.
	TamperHeaderDigest
	// TamperMD5 stores a wrong MD5 digest in the signature header.
	TamperMD5
	// TamperTruncate cuts the last 100 bytes off.
	TamperTruncate
	// TamperAppendedOverlap points the first appended tag's data into the
	// region's data (with Appended).
	TamperAppendedOverlap
	// TamperAppendedTrailer points the first appended tag's data into the
	// signature header's region trailer (with Appended).
	TamperAppendedTrailer
	// TamperAppendedGap leaves 8 bytes between the region trailer and the
	// appended tags' data, bytes that belong to no entry (with Appended).
	TamperAppendedGap
	// TamperAppendedDuplicate appends a second SHA-256 header digest, a
	// wrong one, after the signature header's region.
	TamperAppendedDuplicate
	// TamperRegionTrailer makes the signature header's region trailer
	// claim one entry more than the header has.
	TamperRegionTrailer
	// TamperMainAppended appends a tag after the main header's immutable
	// region, then digests and signs that header: only the region rule
	// can refuse it.
	TamperMainAppended
)

// resign replaces the signature header rpmpack wrote with one made here.
func resign(rpm []byte, opts Options) ([]byte, error) {
	p, err := header.Read(bytes.NewReader(rpm))
	if err != nil {
		return nil, fmt.Errorf("reading rpmpack output: %w", err)
	}
	payload := rpm[p.PayloadStart:]
	hdr := p.Header.Bytes()
	if opts.Legacy {
		hdr = encode(header.TagHeaderImmutable, entriesOf(p.Header, header.TagPayloadDigest, header.TagPayloadDigestAlgo))
	}
	if opts.Tamper == TamperMainAppended {
		hdr = appendAfterRegion(hdr, []Tag{{Tag: header.TagPackager, Type: header.TypeString, Count: 1, Data: cstr("appended after signing")}}, 0)
	}
	payloadSize, err := p.Signature.Int(header.SigPayloadSize)
	if err != nil {
		return nil, fmt.Errorf("rpmpack signature header: %w", err)
	}

	sha1hex, sha256hex := headerDigests(hdr)
	md5sum := md5Of(hdr, payload)
	if opts.Tamper == TamperHeaderDigest {
		sha1hex, sha256hex = flipHex(sha1hex), flipHex(sha256hex)
	}
	if opts.Tamper == TamperMD5 {
		md5sum[0] ^= 0xff
	}
	sig := []rawEntry{
		{header.SigSHA1, header.TypeString, 1, cstr(sha1hex)},
		{header.SigSize, header.TypeInt32, 1, be32(uint32(len(hdr) + len(payload)))},
		{header.SigMD5, header.TypeBin, 16, md5sum},
		{header.SigPayloadSize, header.TypeInt32, 1, be32(uint32(payloadSize))},
	}
	if !opts.Legacy {
		sig = append(sig, rawEntry{header.SigSHA256, header.TypeString, 1, cstr(sha256hex)})
	}
	if opts.Key != nil {
		hs, err := opts.Key.sign(hdr, opts.V3)
		if err != nil {
			return nil, err
		}
		sig = append(sig, rawEntry{header.SigRSA, header.TypeBin, uint32(len(hs)), hs})
		if opts.Legacy || opts.PayloadSignature {
			ps, err := opts.Key.sign(append(append([]byte(nil), hdr...), payload...), opts.V3)
			if err != nil {
				return nil, err
			}
			sig = append(sig, rawEntry{header.SigPGP, header.TypeBin, uint32(len(ps)), ps})
		}
		if opts.Tamper == TamperSignature {
			for _, e := range sig {
				if e.tag == header.SigRSA || e.tag == header.SigPGP {
					e.data[len(e.data)-1] ^= 0x01
				}
			}
		}
	}
	sigh := encode(header.TagHeaderSignatures, sig)
	appended := opts.Appended
	if opts.Tamper == TamperAppendedDuplicate {
		appended = append(appended, Tag{Tag: header.SigSHA256, Type: header.TypeString, Count: 1, Data: cstr(flipHex(sha256hex))})
	}
	if len(appended) > 0 {
		gap := 0
		if opts.Tamper == TamperAppendedGap {
			gap = 8
		}
		sigh = appendAfterRegion(sigh, appended, gap)
	}
	if err := tamperSignatureRegion(sigh, opts.Tamper); err != nil {
		return nil, err
	}

	var out bytes.Buffer
	out.Write(rpm[:header.LeadSize])
	out.Write(sigh)
	out.Write(make([]byte, (8-len(sigh)%8)%8))
	hdrAt := out.Len()
	out.Write(hdr)
	payloadAt := out.Len()
	out.Write(payload)
	b := out.Bytes()
	switch opts.Tamper {
	case TamperPayload:
		b[payloadAt+len(payload)/2] ^= 0x01
	case TamperHeader:
		i := bytes.Index(b[hdrAt:payloadAt], []byte("test fixture"))
		if i < 0 {
			i = len(hdr) - 1
		}
		b[hdrAt+i] ^= 0x20
	case TamperTruncate:
		b = b[:max(len(b)-100, 0)]
	}
	return b, nil
}

func flipHex(s string) string {
	if strings.HasPrefix(s, "0") {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

func cstr(s string) []byte { return append([]byte(s), 0) }

// appendAfterRegion adds tags to an encoded header the way rpm's
// headerExport writes a header read from a file with tags put into it:
// the region's index entries and data (trailer included) unchanged, the
// new index entries after them, their data after the old data store,
// integers aligned. gap bytes of padding, belonging to no entry, go
// before the new data when a test asks for them.
func appendAfterRegion(h []byte, tags []Tag, gap int) []byte {
	il := int(binary.BigEndian.Uint32(h[8:]))
	data := append([]byte(nil), h[16+16*il:]...)
	data = append(data, make([]byte, gap)...)
	var index []byte
	for _, t := range tags {
		if a := typeAlign[t.Type]; a > 0 && len(data)%a != 0 {
			data = append(data, make([]byte, a-len(data)%a)...)
		}
		index = append(index, indexEntry(uint32(t.Tag), uint32(t.Type), uint32(len(data)), t.Count)...)
		data = append(data, t.Data...)
	}
	var out bytes.Buffer
	out.Write(h[:8])
	out.Write(be32(uint32(il + len(tags))))
	out.Write(be32(uint32(len(data))))
	out.Write(h[16 : 16+16*il])
	out.Write(index)
	out.Write(data)
	return out.Bytes()
}

// tamperSignatureRegion applies the tampers that rewrite the signature
// header's index in place.
func tamperSignatureRegion(sigh []byte, t Tamper) error {
	il := binary.BigEndian.Uint32(sigh[8:])
	index := sigh[16 : 16+16*il]
	trailerAt := binary.BigEndian.Uint32(index[8:])
	ril := -int32(binary.BigEndian.Uint32(sigh[16+16*il+trailerAt+8:])) / 16
	switch t {
	case TamperAppendedOverlap, TamperAppendedTrailer:
		if uint32(ril) >= il {
			return errors.New("tamper needs Options.Appended")
		}
		off := uint32(0)
		if t == TamperAppendedTrailer {
			off = trailerAt + 8
		}
		binary.BigEndian.PutUint32(index[16*ril+8:], off)
	case TamperRegionTrailer:
		binary.BigEndian.PutUint32(sigh[16+16*il+trailerAt+8:], uint32(-16*int32(il+1)))
	}
	return nil
}

// rawEntry is one header entry to encode.
type rawEntry struct {
	tag   header.Tag
	typ   header.Type
	count uint32
	data  []byte
}

// entriesOf copies h's entries, leaving out the tags in drop.
func entriesOf(h *header.Header, drop ...header.Tag) []rawEntry {
	var out []rawEntry
	data := h.Bytes()[16+16*(len(h.Entries())+1):]
next:
	for _, e := range h.Entries() {
		for _, d := range drop {
			if e.Tag == d {
				continue next
			}
		}
		out = append(out, rawEntry{e.Tag, e.Type, e.Count, data[e.Offset : e.Offset+e.Length]})
	}
	return out
}

var typeAlign = map[header.Type]int{header.TypeInt16: 2, header.TypeInt32: 4, header.TypeInt64: 8}

// encode writes a header with a region covering all of it, entries sorted
// by tag and integer data aligned, as rpm writes package headers.
func encode(region header.Tag, entries []rawEntry) []byte {
	entries = append([]rawEntry(nil), entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].tag < entries[j].tag })
	var data bytes.Buffer
	offsets := make([]int, len(entries))
	for i, e := range entries {
		if a := typeAlign[e.typ]; a > 0 && data.Len()%a != 0 {
			data.Write(make([]byte, a-data.Len()%a))
		}
		offsets[i] = data.Len()
		data.Write(e.data)
	}
	il := len(entries) + 1
	trailerAt := data.Len()
	data.Write(indexEntry(uint32(region), uint32(header.TypeBin), uint32(-int32(16*il)), 16))
	var out bytes.Buffer
	out.Write([]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0})
	out.Write(be32(uint32(il)))
	out.Write(be32(uint32(data.Len())))
	out.Write(indexEntry(uint32(region), uint32(header.TypeBin), uint32(trailerAt), 16))
	for i, e := range entries {
		out.Write(indexEntry(uint32(e.tag), uint32(e.typ), uint32(offsets[i]), e.count))
	}
	out.Write(data.Bytes())
	return out.Bytes()
}

func indexEntry(tag, typ, off, count uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b, tag)
	binary.BigEndian.PutUint32(b[4:], typ)
	binary.BigEndian.PutUint32(b[8:], off)
	binary.BigEndian.PutUint32(b[12:], count)
	return b
}

// Key is an OpenPGP signing key for fixtures.
type Key struct {
	Entity *openpgp.Entity
}

// keyTime is the creation time of generated keys: before DefaultBuildTime,
// so signatures are never older than their key.
var keyTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// NewKey generates an RSA-2048 signing key whose user ID is
// "NAME <NAME@kiln.test>".
func NewKey(name string) (*Key, error) {
	cfg := &packet.Config{
		Algorithm:   packet.PubKeyAlgoRSA,
		RSABits:     2048,
		DefaultHash: crypto.SHA256,
		Time:        func() time.Time { return keyTime },
	}
	e, err := openpgp.NewEntity(name, "kiln test key", name+"@kiln.test", cfg)
	if err != nil {
		return nil, fmt.Errorf("generating test key %q: %w", name, err)
	}
	return &Key{Entity: e}, nil
}

// keyCache holds the keys TestKey made, so a test binary generates each
// named key once.
var keyCache = struct {
	sync.Mutex
	m map[string]*Key
}{m: map[string]*Key{}}

// TestKey returns the test process's key called name, generating it on
// first use.
func TestKey(tb testing.TB, name string) *Key {
	tb.Helper()
	keyCache.Lock()
	defer keyCache.Unlock()
	if k, ok := keyCache.m[name]; ok {
		return k
	}
	k, err := NewKey(name)
	if err != nil {
		tb.Fatal(err)
	}
	keyCache.m[name] = k
	return k
}

// KeyID is the 64-bit OpenPGP key ID.
func (k *Key) KeyID() uint64 { return k.Entity.PrimaryKey.KeyId }

// ArmoredPublicKey exports the public key as an ASCII-armored block, the
// form repositories publish (RPM-GPG-KEY-*).
func (k *Key) ArmoredPublicKey() ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.Entity.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// WritePublicKey writes the armored public key to path.
func (k *Key) WritePublicKey(path string) error {
	b, err := k.ArmoredPublicKey()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// PublicKeys returns the public half alone, as a verifier would load it.
func (k *Key) PublicKeys() openpgp.EntityList {
	var buf bytes.Buffer
	if err := k.Entity.Serialize(&buf); err != nil {
		panic(err) // serializing a freshly made entity to memory cannot fail
	}
	el, err := openpgp.ReadKeyRing(&buf)
	if err != nil {
		panic(err)
	}
	return el
}

// sign makes a detached binary signature of data, dated DefaultBuildTime.
func (k *Key) sign(data []byte, v3 bool) ([]byte, error) {
	if v3 {
		return k.signV3(data, DefaultBuildTime)
	}
	no := false
	cfg := &packet.Config{
		DefaultHash:                           crypto.SHA256,
		Time:                                  func() time.Time { return DefaultBuildTime },
		NonDeterministicSignaturesViaNotation: &no,
	}
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, k.Entity, bytes.NewReader(data), cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// signV3 writes a version 3 RSA/SHA-256 binary signature packet (RFC 4880
// 5.2.2), which go-crypto cannot produce: the hash covers the data, then
// the signature type and creation time.
func (k *Key) signV3(data []byte, when time.Time) ([]byte, error) {
	priv, ok := k.Entity.PrivateKey.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("v3 signatures need an RSA key")
	}
	var hashed [5]byte
	hashed[0] = 0x00 // binary document
	binary.BigEndian.PutUint32(hashed[1:], uint32(when.Unix()))
	h := sha256.New()
	h.Write(data)
	h.Write(hashed[:])
	digest := h.Sum(nil)
	s, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	body.WriteByte(3)
	body.WriteByte(5)
	body.Write(hashed[:])
	body.Write(binary.BigEndian.AppendUint64(nil, k.KeyID()))
	body.WriteByte(1) // RSA
	body.WriteByte(8) // SHA-256
	body.Write(digest[:2])
	mpi := new(big.Int).SetBytes(s)
	binary.Write(&body, binary.BigEndian, uint16(mpi.BitLen()))
	body.Write(mpi.Bytes())
	// Old-format packet header, tag 2, two-byte length, as rpm's V3
	// signatures are written.
	var out bytes.Buffer
	out.WriteByte(0x80 | 2<<2 | 1)
	binary.Write(&out, binary.BigEndian, uint16(body.Len()))
	io.Copy(&out, &body)
	return out.Bytes(), nil
}
