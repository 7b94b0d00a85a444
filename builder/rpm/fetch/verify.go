package fetch

import (
	"bytes"
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// Reasons a package is refused; the errors returned wrap one of these.
var (
	// ErrChecksum: the file's size or checksum is not what repodata says.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrMalformed: the file is not a well-formed RPM package.
	ErrMalformed = errors.New("malformed package")
	// ErrDigest: a header or payload digest inside the package does not
	// match, or the package carries none.
	ErrDigest = errors.New("digest mismatch")
	// ErrUnsigned: gpgcheck is on and the package has no OpenPGP signature.
	ErrUnsigned = errors.New("package is not signed")
	// ErrUnknownKey: the package is signed by a key not among the repo's.
	ErrUnknownKey = errors.New("signed with an unknown key")
	// ErrBadSignature: a signature does not verify, or its key may not be
	// used (revoked, expired at signing time).
	ErrBadSignature = errors.New("bad signature")
	// ErrIdentity: the header names another package than repodata does.
	ErrIdentity = errors.New("package identity mismatch")
)

// VerifyFile checks a package file already on disk the way Fetch checks a
// download: size and checksum against pkg (when pkg has them), name, EVR
// and arch against pkg, header and payload digests, and, when gpgcheck is
// on, the OpenPGP signatures against keys. The build stage calls it before
// unpacking anything.
//
// pkg may be nil to check a file on its own merits (digests, signatures).
func VerifyFile(ctx context.Context, path string, pkg *repo.Package, keys openpgp.EntityList, gpgcheck bool) error {
	name := path
	var want repo.Package
	if pkg != nil {
		name, want = pkg.NEVRA(), *pkg
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", name, err)
	}
	defer f.Close()
	sum, err := newChecksum(want.Checksum)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", name, err)
	}
	in := &countingReader{r: ctxReader{ctx, f}, w: sum}
	ev, perr := scan(in)
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("verifying %s: reading %s: %w", name, path, err)
	}
	if err := checkSum(&want, in.n, sum); err != nil {
		return fmt.Errorf("verifying %s (%s): %w", name, path, err)
	}
	if perr != nil {
		return fmt.Errorf("verifying %s (%s): %w", name, path, perr)
	}
	if err := ev.verify(pkg, keys, gpgcheck, time.Now()); err != nil {
		return fmt.Errorf("verifying %s (%s): %w", name, path, err)
	}
	return nil
}

// checksum hashes a file for comparison with repodata; a nil hash means
// repodata gave no checksum (only possible for VerifyFile callers).
type checksum struct {
	hash.Hash
	want string
	typ  string
}

func newChecksum(c repo.Checksum) (*checksum, error) {
	if c.Value == "" && c.Type == "" {
		return &checksum{}, nil
	}
	h, n, err := checksumHash(c.Type)
	if err != nil {
		return nil, err
	}
	v := strings.ToLower(c.Value)
	if len(v) != 2*n || strings.Trim(v, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("repodata checksum %q is not a %s hex digest", c.Value, c.Type)
	}
	return &checksum{Hash: h, want: v, typ: normType(c.Type)}, nil
}

func normType(t string) string {
	t = strings.ToLower(t)
	if t == "sha" {
		return "sha1"
	}
	return t
}

func checksumHash(typ string) (hash.Hash, int, error) {
	switch normType(typ) {
	case "sha1":
		return sha1.New(), sha1.Size, nil
	case "sha224":
		return sha256.New224(), sha256.Size224, nil
	case "sha256":
		return sha256.New(), sha256.Size, nil
	case "sha384":
		return sha512.New384(), sha512.Size384, nil
	case "sha512":
		return sha512.New(), sha512.Size, nil
	}
	return nil, 0, fmt.Errorf("unsupported repodata checksum type %q", typ)
}

func (c *checksum) Write(p []byte) (int, error) {
	if c.Hash == nil {
		return len(p), nil
	}
	return c.Hash.Write(p)
}

func checkSum(pkg *repo.Package, n int64, sum *checksum) error {
	if pkg.Size > 0 && n != pkg.Size {
		return fmt.Errorf("%d bytes, repodata says %d: %w", n, pkg.Size, ErrChecksum)
	}
	if sum.Hash != nil {
		if got := hex.EncodeToString(sum.Sum(nil)); got != sum.want {
			return fmt.Errorf("%s %s, repodata says %s: %w", sum.typ, got, sum.want, ErrChecksum)
		}
	}
	return nil
}

// countingReader passes reads through, copying them to w and counting.
type countingReader struct {
	r    io.Reader
	w    io.Writer
	n    int64
	werr error // first error writing to w (disk full...)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.werr == nil {
			if _, werr := c.w.Write(p[:n]); werr != nil {
				c.werr = werr
			}
		}
		if c.werr != nil && err == nil {
			err = c.werr
		}
	}
	return n, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// evidence is what one pass over a package file computed; verify judges it.
type evidence struct {
	pkg        *header.Package
	payloadLen int64
	payload    []payloadDigest
	md5        hash.Hash // over header+payload, when the signature header has an MD5
	wholeSigs  []*pgpSig // over header+payload (tags 1002, 1005)
}

type payloadDigest struct {
	tag  header.Tag
	name string
	want string
	h    hash.Hash
}

// scan reads a package from r: headers, then the payload through every
// hash a check will need. It reads no further than the signature header's
// size (when it states one) plus one byte, to detect trailing data.
func scan(r io.Reader) (*evidence, error) {
	p, err := header.Read(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ev := &evidence{pkg: p}
	hdr := p.Header.Bytes()
	var ws []io.Writer
	pd, err := payloadDigests(p.Header)
	if err != nil {
		return nil, err
	}
	for _, d := range pd {
		ws = append(ws, d.h)
	}
	ev.payload = pd
	if p.Signature.Has(header.SigMD5) {
		ev.md5 = md5.New()
		ev.md5.Write(hdr)
		ws = append(ws, ev.md5)
	}
	for _, tag := range []header.Tag{header.SigPGP, header.SigGPG} {
		b, err := p.Signature.Bin(tag)
		if errors.Is(err, header.ErrNotFound) {
			continue
		}
		s := parseSig(tag, b, err)
		if s.err == nil {
			s.h.Write(hdr)
			ws = append(ws, s.h)
		}
		ev.wholeSigs = append(ev.wholeSigs, s)
	}
	w := io.MultiWriter(ws...)

	size := int64(-1)
	if v, err := p.Signature.Int(header.SigLongSize); err == nil {
		size = int64(v)
	} else if v, err := p.Signature.Int(header.SigSize); err == nil {
		size = int64(v)
	}
	if size >= 0 {
		want := size - int64(len(hdr))
		if want < 0 {
			return nil, fmt.Errorf("%w: signature header size %d is smaller than the %d-byte header", ErrMalformed, size, len(hdr))
		}
		n, err := io.CopyN(w, r, want)
		ev.payloadLen = n
		if err == io.EOF {
			return nil, fmt.Errorf("%w: truncated payload: %d of %d bytes", ErrMalformed, n, want)
		}
		if err != nil {
			return nil, err
		}
		var one [1]byte
		if k, _ := io.ReadFull(r, one[:]); k > 0 {
			return nil, fmt.Errorf("%w: data after the %d bytes the signature header states", ErrMalformed, size)
		}
		return ev, nil
	}
	n, err := io.Copy(w, r)
	ev.payloadLen = n
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func payloadDigests(h *header.Header) ([]payloadDigest, error) {
	var out []payloadDigest
	if vals, err := h.Strings(header.TagPayloadDigest); err == nil {
		algo := uint64(header.HashSHA256)
		if a, err := h.Int(header.TagPayloadDigestAlgo); err == nil {
			algo = a
		}
		ch, ok := pgpHash(algo)
		if !ok {
			return nil, fmt.Errorf("%w: payload digest algorithm %d is not supported", ErrDigest, algo)
		}
		out = append(out, payloadDigest{header.TagPayloadDigest, hashName(ch), strings.ToLower(vals[0]), ch.New()})
	} else if !errors.Is(err, header.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, d := range []struct {
		tag  header.Tag
		name string
		h    func() hash.Hash
	}{
		{header.TagPayloadSHA512, "SHA-512", sha512.New},
		{header.TagPayloadSHA3_256, "SHA3-256", func() hash.Hash { return sha3.New256() }},
	} {
		v, err := h.String(d.tag)
		if errors.Is(err, header.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		out = append(out, payloadDigest{d.tag, d.name, strings.ToLower(v), d.h()})
	}
	return out, nil
}

// pgpHash maps OpenPGP hash algorithm numbers (which rpm also uses) to Go.
// MD5 is not accepted for anything that protects integrity.
func pgpHash(id uint64) (crypto.Hash, bool) {
	switch id {
	case header.HashSHA1:
		return crypto.SHA1, true
	case header.HashSHA256:
		return crypto.SHA256, true
	case header.HashSHA384:
		return crypto.SHA384, true
	case header.HashSHA512:
		return crypto.SHA512, true
	case header.HashSHA224:
		return crypto.SHA224, true
	}
	return 0, false
}

func hashName(h crypto.Hash) string { return h.String() }

// verify checks the evidence: identity, digests, then signatures.
func (ev *evidence) verify(pkg *repo.Package, keys openpgp.EntityList, gpgcheck bool, now time.Time) error {
	h := ev.pkg.Header
	if pkg != nil {
		n, err := h.NEVRA()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		want := version.EVR{Epoch: pkg.EVR.Epoch, Version: pkg.EVR.Version, Release: pkg.EVR.Release}
		if n.Name != pkg.Name || n.EVR != want || (n.Arch != pkg.Arch && pkg.Arch != "src") {
			return fmt.Errorf("header says %s, repodata says %s: %w", n, pkg.NEVRA(), ErrIdentity)
		}
	}
	hdr := h.Bytes()
	sigh := ev.pkg.Signature
	headerDigests := 0
	for _, d := range []struct {
		tag  header.Tag
		name string
		sum  func([]byte) []byte
	}{
		{header.SigSHA256, "SHA-256", func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
		{header.SigSHA1, "SHA-1", func(b []byte) []byte { s := sha1.Sum(b); return s[:] }},
		{header.SigSHA3_256, "SHA3-256", func(b []byte) []byte { s := sha3.Sum256(b); return s[:] }},
	} {
		want, err := sigh.String(d.tag)
		if errors.Is(err, header.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if got := hex.EncodeToString(d.sum(hdr)); got != strings.ToLower(want) {
			return fmt.Errorf("header %s digest %s, signature header says %s: %w", d.name, got, want, ErrDigest)
		}
		headerDigests++
	}
	if headerDigests == 0 {
		return fmt.Errorf("no header digest (signature tags 269/273): %w", ErrDigest)
	}
	for _, d := range ev.payload {
		if got := hex.EncodeToString(d.h.Sum(nil)); got != d.want {
			return fmt.Errorf("payload %s digest %s, header says %s: %w", d.name, got, d.want, ErrDigest)
		}
	}
	if ev.md5 != nil {
		want, err := sigh.Bin(header.SigMD5)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if got := ev.md5.Sum(nil); !bytes.Equal(got, want) {
			return fmt.Errorf("header+payload MD5 digest %x, signature header says %x: %w", got, want, ErrDigest)
		}
	}
	if len(ev.payload) == 0 && ev.md5 == nil {
		return fmt.Errorf("no payload digest (header tag 5092 or signature tag 1004): %w", ErrDigest)
	}
	if !gpgcheck {
		return nil
	}
	sigs := ev.wholeSigs
	for _, tag := range []header.Tag{header.SigRSA, header.SigDSA} {
		b, err := sigh.Bin(tag)
		if errors.Is(err, header.ErrNotFound) {
			continue
		}
		s := parseSig(tag, b, err)
		if s.err == nil {
			s.h.Write(hdr)
		}
		sigs = append(sigs, s)
	}
	if vals, err := sigh.Strings(header.SigOpenPGP); err == nil {
		for _, v := range vals {
			b, derr := base64.StdEncoding.DecodeString(v)
			s := parseSig(header.SigOpenPGP, b, derr)
			if s.err == nil {
				s.h.Write(hdr)
			}
			sigs = append(sigs, s)
		}
	}
	if len(sigs) == 0 {
		return ErrUnsigned
	}
	for _, s := range sigs {
		if err := s.check(keys, now); err != nil {
			return fmt.Errorf("%s: %w", sigName(s.tag), err)
		}
	}
	return nil
}

// pgpSig is one OpenPGP signature from the signature header, with the hash
// of the data it covers being fed.
type pgpSig struct {
	tag header.Tag
	v4  *packet.Signature // version 4 or later, parsed by go-crypto
	v3  *sigV3
	h   hash.Hash
	err error // the packet could not be parsed or is of an unsupported kind
}

// sigV3 is a version 3 signature packet (RFC 4880 5.2.2), which rpm still
// finds on CentOS 7 packages and go-crypto no longer parses.
type sigV3 struct {
	sigType byte
	created uint32
	keyID   uint64
	pubAlgo byte
	hash    crypto.Hash
	left16  [2]byte
	rsaSig  []byte
}

func parseSig(tag header.Tag, b []byte, err error) *pgpSig {
	s := &pgpSig{tag: tag}
	if err != nil {
		s.err = fmt.Errorf("%w: %w", ErrMalformed, err)
		return s
	}
	body, err := signaturePacketBody(b)
	if err != nil {
		s.err = fmt.Errorf("%w: %w", ErrMalformed, err)
		return s
	}
	if body[0] == 3 {
		v3, err := parseV3(body)
		if err != nil {
			s.err = err
			return s
		}
		s.v3, s.h = v3, v3.hash.New()
		return s
	}
	p, err := packet.Read(bytes.NewReader(b))
	if err != nil {
		s.err = fmt.Errorf("%w: reading signature packet: %w", ErrMalformed, err)
		return s
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		s.err = fmt.Errorf("%w: not a signature packet", ErrMalformed)
		return s
	}
	if sig.SigType != packet.SigTypeBinary {
		s.err = fmt.Errorf("%w: signature type %#x, want binary (0)", ErrBadSignature, sig.SigType)
		return s
	}
	h, err := sig.PrepareVerify()
	if err != nil {
		s.err = fmt.Errorf("%w: %w", ErrBadSignature, err)
		return s
	}
	s.v4, s.h = sig, h
	return s
}

// signaturePacketBody returns the body of the single signature packet (tag
// 2) that b must hold, in old or new packet format.
func signaturePacketBody(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return nil, errors.New("not an OpenPGP packet")
	}
	var tag byte
	var n, hl int
	if b[0]&0x40 == 0 { // old format
		tag = b[0] >> 2 & 0x0f
		switch b[0] & 3 {
		case 0:
			n, hl = int(b[1]), 2
		case 1:
			if len(b) < 3 {
				return nil, errors.New("truncated packet header")
			}
			n, hl = int(binary.BigEndian.Uint16(b[1:])), 3
		case 2:
			if len(b) < 5 {
				return nil, errors.New("truncated packet header")
			}
			n, hl = int(binary.BigEndian.Uint32(b[1:])), 5
		default:
			return nil, errors.New("indeterminate packet length")
		}
	} else {
		tag = b[0] & 0x3f
		switch l := b[1]; {
		case l < 192:
			n, hl = int(l), 2
		case l < 224:
			if len(b) < 3 {
				return nil, errors.New("truncated packet header")
			}
			n, hl = (int(l)-192)<<8+int(b[2])+192, 3
		case l == 255:
			if len(b) < 6 {
				return nil, errors.New("truncated packet header")
			}
			n, hl = int(binary.BigEndian.Uint32(b[2:])), 6
		default:
			return nil, errors.New("partial packet lengths in a signature")
		}
	}
	if tag != 2 {
		return nil, fmt.Errorf("packet tag %d, want a signature (2)", tag)
	}
	if n < 1 || n > len(b)-hl {
		return nil, errors.New("signature packet length out of range")
	}
	return b[hl : hl+n], nil
}

func parseV3(b []byte) (*sigV3, error) {
	if len(b) < 19 || b[1] != 5 {
		return nil, fmt.Errorf("%w: short or malformed v3 signature", ErrMalformed)
	}
	s := &sigV3{
		sigType: b[2],
		created: binary.BigEndian.Uint32(b[3:]),
		keyID:   binary.BigEndian.Uint64(b[7:]),
		pubAlgo: b[15],
	}
	copy(s.left16[:], b[17:19])
	h, ok := pgpHash(uint64(b[16]))
	if !ok {
		return nil, fmt.Errorf("%w: v3 signature hash algorithm %d is not supported", ErrBadSignature, b[16])
	}
	s.hash = h
	if s.sigType != 0 {
		return nil, fmt.Errorf("%w: signature type %#x, want binary (0)", ErrBadSignature, s.sigType)
	}
	if s.pubAlgo != 1 && s.pubAlgo != 3 {
		return nil, fmt.Errorf("%w: v3 signatures are supported for RSA only, not public key algorithm %d", ErrBadSignature, s.pubAlgo)
	}
	mpi := b[19:]
	if len(mpi) < 2 {
		return nil, fmt.Errorf("%w: v3 signature without a value", ErrMalformed)
	}
	bits := int(binary.BigEndian.Uint16(mpi))
	n := (bits + 7) / 8
	if n == 0 || len(mpi)-2 < n {
		return nil, fmt.Errorf("%w: truncated v3 signature value", ErrMalformed)
	}
	s.rsaSig = mpi[2 : 2+n]
	return s, nil
}

func (s *pgpSig) issuer() uint64 {
	if s.v3 != nil {
		return s.v3.keyID
	}
	if s.v4.IssuerKeyId != nil {
		return *s.v4.IssuerKeyId
	}
	if fp := s.v4.IssuerFingerprint; len(fp) >= 8 {
		// v4 key IDs are the fingerprint's low 64 bits; v6 ones its high.
		if len(fp) == 20 {
			return binary.BigEndian.Uint64(fp[12:])
		}
		return binary.BigEndian.Uint64(fp)
	}
	return 0
}

// check verifies the signature against the signing-capable keys with its
// issuer's key ID.
func (s *pgpSig) check(keys openpgp.EntityList, now time.Time) error {
	if s.err != nil {
		return s.err
	}
	id := s.issuer()
	cands := signingKeys(keys, id)
	if len(cands) == 0 {
		if len(keys.KeysById(id)) > 0 {
			return fmt.Errorf("key ID %016X is not a signing key: %w", id, ErrBadSignature)
		}
		return fmt.Errorf("key ID %016X: %w", id, ErrUnknownKey)
	}
	var digest []byte
	created := time.Time{}
	if s.v3 != nil {
		var trailer [5]byte
		trailer[0] = s.v3.sigType
		binary.BigEndian.PutUint32(trailer[1:], s.v3.created)
		s.h.Write(trailer[:])
		digest = s.h.Sum(nil)
		if digest[0] != s.v3.left16[0] || digest[1] != s.v3.left16[1] {
			return fmt.Errorf("key ID %016X: digest prefix differs: %w", id, ErrBadSignature)
		}
		created = time.Unix(int64(s.v3.created), 0)
	} else {
		created = s.v4.CreationTime
	}
	var lastErr error
	for _, k := range cands {
		var err error
		if s.v3 != nil {
			err = verifyV3(k, s.v3, digest)
		} else {
			h, cerr := cloneHash(s.h)
			if cerr != nil {
				return cerr
			}
			err = k.PublicKey.VerifySignature(h, s.v4)
		}
		if err != nil {
			lastErr = err
			continue
		}
		if k.Entity.Revoked(now) || (k.PublicKey != k.Entity.PrimaryKey && k.Revoked(now)) {
			return fmt.Errorf("key ID %016X is revoked: %w", id, ErrBadSignature)
		}
		if k.SelfSignature != nil && k.PublicKey.KeyExpired(k.SelfSignature, created) {
			return fmt.Errorf("key ID %016X had expired when the package was signed (%s): %w", id, created.UTC().Format(time.DateOnly), ErrBadSignature)
		}
		return nil
	}
	return fmt.Errorf("key ID %016X: %v: %w", id, lastErr, ErrBadSignature)
}

func verifyV3(k openpgp.Key, s *sigV3, digest []byte) error {
	pub, ok := k.PublicKey.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("v3 signature by a non-RSA key")
	}
	sig := s.rsaSig
	if size := (pub.N.BitLen() + 7) / 8; len(sig) < size {
		// MPIs drop leading zeros; PKCS #1 wants the full width.
		sig = append(make([]byte, size-len(sig)), sig...)
	}
	if err := rsa.VerifyPKCS1v15(pub, s.hash, digest, sig); err != nil {
		return errors.New("RSA verification failure")
	}
	return nil
}

// cloneHash copies a hash state, so the same data can be checked against
// more than one candidate key.
func cloneHash(h hash.Hash) (hash.Hash, error) {
	if c, ok := h.(hash.Cloner); ok {
		cl, err := c.Clone()
		if err == nil {
			return cl, nil
		}
		return nil, err
	}
	return nil, fmt.Errorf("hash %T cannot be copied", h)
}

func sigName(t header.Tag) string {
	switch t {
	case header.SigRSA, header.SigDSA, header.SigOpenPGP:
		return fmt.Sprintf("header signature (tag %d)", t)
	}
	return fmt.Sprintf("header+payload signature (tag %d)", t)
}

// signingKeys returns the keys with ID id that may sign: those whose
// self-signature grants signing, and, as rpm and gpg accept them, those
// whose self-signature has no key flags at all (keys made before flags
// were common).
func signingKeys(keys openpgp.EntityList, id uint64) []openpgp.Key {
	out := keys.KeysByIdUsage(id, packet.KeyFlagSign)
	for _, k := range keys.KeysById(id) {
		if k.SelfSignature != nil && !k.SelfSignature.FlagsValid {
			out = append(out, k)
		}
	}
	return out
}
