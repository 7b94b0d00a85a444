package header

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Limits rpm itself enforces on headers read from package files
// (lib/header.cc: HEADER_TAGS_MAX, HEADER_DATA_MAX, HEADER_ARRAY_MAX,
// headerMaxbytes, and the tighter bounds hdrblobVerifyLengths applies to
// signature headers).
const (
	MaxEntries          = 0xffff
	MaxData             = 0x0fffffff // 256 MiB
	MaxArray            = 0x000fffff
	MaxSignatureEntries = 32
	MaxSignatureData    = 64 << 20
	maxBlob             = 256 << 20
)

var magic = [8]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}

// ErrNotFound is returned by the accessors when a header has no such tag.
var ErrNotFound = errors.New("tag not found")

// Entry is one index entry of a header.
type Entry struct {
	Tag    Tag
	Type   Type
	Offset uint32 // into the data store
	Count  uint32
	Length uint32 // bytes of data the entry covers
}

// Header is one parsed header structure: an index of typed entries over a
// data store. It keeps the bytes it was read from, which is what rpm's
// header digests and signatures cover.
type Header struct {
	raw     []byte  // magic, counts, index and data, exactly as read
	data    []byte  // the data store, a sub-slice of raw
	region  Tag     // the region tag, 0 for a header without one
	entries []Entry // in file order, the region entry excluded
	sorted  []int   // indexes into entries, by tag
}

// Bytes returns the header exactly as it was read, from its 8-byte magic to
// the end of its data store. For the main header these are the bytes the
// SHA-1/SHA-256 header digests and the header-only signatures cover.
func (h *Header) Bytes() []byte { return h.raw }

// Region returns the region tag (TagHeaderImmutable for a package's main
// header, TagHeaderSignatures for its signature header), or 0 for an
// ancient header without a region.
func (h *Header) Region() Tag { return h.region }

// Entries returns the index entries in file order, without the region entry.
func (h *Header) Entries() []Entry { return h.entries }

// headerKind tells readBlob which of rpm's limits apply.
type headerKind int

const (
	kindMain headerKind = iota
	kindSignature
)

func (k headerKind) String() string {
	if k == kindSignature {
		return "signature header"
	}
	return "header"
}

// Parse reads one header from b, which must hold exactly the header (magic
// included) and nothing after it. It applies the main header's limits.
func Parse(b []byte) (*Header, error) { return parse(b, kindMain) }

func parse(b []byte, kind headerKind) (*Header, error) {
	h, err := readBlob(bytes.NewReader(b), kind)
	if err != nil {
		return nil, err
	}
	if len(h.raw) != len(b) {
		return nil, fmt.Errorf("header: %d bytes after the data store", len(b)-len(h.raw))
	}
	return h, nil
}

// readBlob reads a header (magic, counts, index, data) from r without
// reading past its end.
func readBlob(r io.Reader, kind headerKind) (*Header, error) {
	var intro [16]byte
	if _, err := io.ReadFull(r, intro[:]); err != nil {
		return nil, fmt.Errorf("reading %s: %w", kind, truncated(err))
	}
	if !bytes.Equal(intro[:8], magic[:]) {
		return nil, fmt.Errorf("reading %s: bad magic % x", kind, intro[:8])
	}
	il := binary.BigEndian.Uint32(intro[8:])
	dl := binary.BigEndian.Uint32(intro[12:])
	maxIL, maxDL := uint32(MaxEntries), uint32(MaxData)
	if kind == kindSignature {
		maxIL, maxDL = MaxSignatureEntries, MaxSignatureData
	}
	if il > maxIL {
		return nil, fmt.Errorf("reading %s: %d index entries, more than the limit of %d", kind, il, maxIL)
	}
	if dl > maxDL {
		return nil, fmt.Errorf("reading %s: %d bytes of data, more than the limit of %d", kind, dl, maxDL)
	}
	if il < 1 {
		return nil, fmt.Errorf("reading %s: no index entries", kind)
	}
	total := 16 + 16*int64(il) + int64(dl)
	if total >= maxBlob {
		return nil, fmt.Errorf("reading %s: %d bytes, more than rpm's limit of %d", kind, total, maxBlob)
	}
	// Grow the buffer only as bytes arrive, so a truncated file claiming a
	// huge data store costs no more memory than the bytes it really has.
	var buf bytes.Buffer
	buf.Write(intro[:])
	n, err := io.CopyN(&buf, r, total-16)
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("reading %s: truncated: want %d bytes, got %d", kind, total, 16+n)
		}
		return nil, fmt.Errorf("reading %s: %w", kind, err)
	}
	h := &Header{raw: buf.Bytes()}
	h.data = h.raw[16+16*int(il):]
	if err := h.index(il, kind); err != nil {
		return nil, fmt.Errorf("reading %s: %w", kind, err)
	}
	return h, nil
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("truncated: %w", io.ErrUnexpectedEOF)
	}
	return err
}

func (h *Header) rawEntry(i uint32) Entry {
	b := h.raw[16+16*int(i):]
	return Entry{
		Tag:    Tag(binary.BigEndian.Uint32(b)),
		Type:   Type(binary.BigEndian.Uint32(b[4:])),
		Offset: binary.BigEndian.Uint32(b[8:]),
		Count:  binary.BigEndian.Uint32(b[12:]),
	}
}

// index checks the index the way rpm checks a header it reads from a
// package file (hdrblobVerifyRegion, hdrblobVerifyInfo) and then loads
// (hdrblobImport), and records the entries.
//
// The two headers of a package have different region rules, as in rpm.
// The main header's immutable region must cover all of it: rpm reads it
// with exact_size set, so no entry can sit outside what the header digests
// and signatures describe as the package. The signature header's region
// may be followed by more entries ("dribbles"): a signature header is
// covered by nothing, and tools that add to it after the build put their
// tags after the region, as rpm's headerExport writes tags added to a
// header read from a file (Red Hat's IMA file signatures, tag 274, on
// every RHEL 9 package).
func (h *Header) index(il uint32, kind headerKind) error {
	dl := uint32(len(h.data))
	first := uint32(0)
	rdl := uint32(0) // end of the region's data, trailer included
	if e := h.rawEntry(0); e.Tag == TagHeaderImage || e.Tag == TagHeaderSignatures || e.Tag == TagHeaderImmutable {
		want := TagHeaderImmutable
		if kind == kindSignature {
			want = TagHeaderSignatures
		}
		if e.Tag != want {
			return fmt.Errorf("region tag %d, want %d", e.Tag, want)
		}
		if e.Type != TypeBin || e.Count != 16 {
			return fmt.Errorf("region tag: type %d count %d, want BIN 16", e.Type, e.Count)
		}
		if uint64(e.Offset)+16 > uint64(dl) {
			return fmt.Errorf("region trailer at %d is outside the %d-byte data store", e.Offset, dl)
		}
		t := h.data[e.Offset:]
		ttag := Tag(binary.BigEndian.Uint32(t))
		ttype := Type(binary.BigEndian.Uint32(t[4:]))
		toff := -int64(int32(binary.BigEndian.Uint32(t[8:])))
		tcount := binary.BigEndian.Uint32(t[12:])
		if kind == kindSignature && ttag == TagHeaderImage {
			ttag = TagHeaderSignatures // old packages, as rpm tolerates
		}
		if ttag != want || ttype != TypeBin || tcount != 16 {
			return fmt.Errorf("bad region trailer: tag %d type %d count %d", ttag, ttype, tcount)
		}
		ril := toff / 16
		if toff%16 != 0 || ril < 1 || ril > int64(il) {
			return fmt.Errorf("bad region trailer: it claims %d bytes of index, the header has %d entries", toff, il)
		}
		rdl = e.Offset + 16
		if kind == kindMain && (ril != int64(il) || rdl != dl) {
			return fmt.Errorf("region covers %d of %d entries and %d of %d data bytes", ril, il, rdl, dl)
		}
		h.region = e.Tag
		first = 1
	}
	h.entries = make([]Entry, 0, il-first)
	end := uint32(0)
	for i := first; i < il; i++ {
		e := h.rawEntry(i)
		if err := h.checkEntry(&e, end, rdl); err != nil {
			return fmt.Errorf("entry %d (tag %d, type %s, offset %d, count %d): %w", i, e.Tag, e.Type, e.Offset, e.Count, err)
		}
		end = e.Offset + e.Length
		h.entries = append(h.entries, e)
	}
	h.sorted = make([]int, len(h.entries))
	for i := range h.sorted {
		h.sorted[i] = i
	}
	sort.SliceStable(h.sorted, func(a, b int) bool { return h.entries[h.sorted[a]].Tag < h.entries[h.sorted[b]].Tag })
	for i := 1; i < len(h.sorted); i++ {
		// rpm reads duplicates, but its readers disagree on which copy
		// counts: signature checks take the first, the header it loads
		// (and records in the rpmdb) the one after the region. kiln
		// refuses the ambiguity.
		if t := h.entries[h.sorted[i]].Tag; t == h.entries[h.sorted[i-1]].Tag {
			return fmt.Errorf("tag %d appears twice", t)
		}
	}
	// rpm's hdrblobImport lays the entries out again, in index order with
	// only alignment padding, and refuses a header whose data store is not
	// exactly that size: no gaps, no bytes that belong to no entry.
	packed := uint64(0)
	for _, e := range h.entries {
		if sz := uint64(e.Type.size()); sz > 1 {
			packed += (sz - packed%sz) % sz
		}
		packed += uint64(e.Length)
	}
	if h.region != 0 {
		packed += 16
	}
	if packed != uint64(dl) {
		return fmt.Errorf("entries account for %d of %d data bytes", packed, dl)
	}
	return nil
}

// checkEntry validates e against the data store and sets e.Length.
func (h *Header) checkEntry(e *Entry, prevEnd, rdl uint32) error {
	dl := uint32(len(h.data))
	switch {
	case e.Tag < TagHeaderI18NTable:
		return errors.New("tag number below 100 outside the region entry")
	case e.Type < TypeChar || e.Type > TypeI18NString:
		return errors.New("unknown type")
	case e.Count < 1 || e.Count > dl:
		return errors.New("count out of range")
	case e.Type != TypeBin && e.Count > MaxArray:
		return errors.New("too many elements")
	case e.Offset > dl:
		return errors.New("offset past the data store")
	case e.Offset < prevEnd:
		return errors.New("data overlaps the previous entry's")
	}
	if sz := e.Type.size(); sz > 1 && e.Offset%sz != 0 {
		return fmt.Errorf("offset not aligned to %d bytes", sz)
	}
	d := h.data[e.Offset:]
	switch e.Type {
	case TypeString, TypeStringArray, TypeI18NString:
		if e.Type == TypeString && e.Count != 1 {
			return errors.New("STRING with a count other than 1")
		}
		n, ok := stringsLen(d, e.Count)
		if !ok {
			return errors.New("strings run past the data store")
		}
		e.Length = n
	default:
		n := uint64(e.Type.size()) * uint64(e.Count)
		if n > uint64(len(d)) {
			return errors.New("data runs past the data store")
		}
		e.Length = uint32(n)
	}
	end := e.Offset + e.Length
	if rdl > 0 && end > rdl-16 && e.Offset < rdl {
		return errors.New("data overlaps the region trailer")
	}
	return nil
}

// stringsLen returns the length of count NUL-terminated strings at the start
// of d.
func stringsLen(d []byte, count uint32) (uint32, bool) {
	n := 0
	for ; count > 0; count-- {
		i := bytes.IndexByte(d[n:], 0)
		if i < 0 {
			return 0, false
		}
		n += i + 1
	}
	return uint32(n), true
}

// Has reports whether the header has the tag.
func (h *Header) Has(tag Tag) bool {
	_, ok := h.find(tag)
	return ok
}

// Entry returns the index entry of tag.
func (h *Header) Entry(tag Tag) (Entry, bool) { return h.find(tag) }

func (h *Header) find(tag Tag) (Entry, bool) {
	i := sort.Search(len(h.sorted), func(i int) bool { return h.entries[h.sorted[i]].Tag >= tag })
	if i < len(h.sorted) && h.entries[h.sorted[i]].Tag == tag {
		return h.entries[h.sorted[i]], true
	}
	return Entry{}, false
}

// lookup returns the entry of tag and its data, checking the type is one of
// want.
func (h *Header) lookup(tag Tag, want ...Type) (Entry, []byte, error) {
	e, ok := h.find(tag)
	if !ok {
		return e, nil, fmt.Errorf("tag %d: %w", tag, ErrNotFound)
	}
	for _, t := range want {
		if e.Type == t {
			return e, h.data[e.Offset : e.Offset+e.Length], nil
		}
	}
	return e, nil, fmt.Errorf("tag %d has type %s, want %v", tag, e.Type, want)
}

// Bin returns a BIN entry's bytes (which alias the header's buffer).
func (h *Header) Bin(tag Tag) ([]byte, error) {
	_, d, err := h.lookup(tag, TypeBin)
	return d, err
}

// String returns a STRING entry, or the first (untranslated) string of an
// I18NSTRING entry.
func (h *Header) String(tag Tag) (string, error) {
	_, d, err := h.lookup(tag, TypeString, TypeI18NString)
	if err != nil {
		return "", err
	}
	return string(d[:bytes.IndexByte(d, 0)]), nil
}

// Strings returns the strings of a STRING_ARRAY, I18NSTRING or STRING entry.
func (h *Header) Strings(tag Tag) ([]string, error) {
	e, d, err := h.lookup(tag, TypeStringArray, TypeI18NString, TypeString)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, e.Count)
	for range e.Count {
		i := bytes.IndexByte(d, 0)
		out = append(out, string(d[:i]))
		d = d[i+1:]
	}
	return out, nil
}

// Uint8s returns a CHAR or INT8 entry.
func (h *Header) Uint8s(tag Tag) ([]uint8, error) {
	_, d, err := h.lookup(tag, TypeInt8, TypeChar)
	if err != nil {
		return nil, err
	}
	return append([]uint8(nil), d...), nil
}

// Uint16s returns an INT16 entry.
func (h *Header) Uint16s(tag Tag) ([]uint16, error) {
	e, d, err := h.lookup(tag, TypeInt16)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, e.Count)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(d[2*i:])
	}
	return out, nil
}

// Uint32s returns an INT32 entry.
func (h *Header) Uint32s(tag Tag) ([]uint32, error) {
	e, d, err := h.lookup(tag, TypeInt32)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, e.Count)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(d[4*i:])
	}
	return out, nil
}

// Uint64s returns an INT64 entry.
func (h *Header) Uint64s(tag Tag) ([]uint64, error) {
	e, d, err := h.lookup(tag, TypeInt64)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, e.Count)
	for i := range out {
		out[i] = binary.BigEndian.Uint64(d[8*i:])
	}
	return out, nil
}

// Ints returns an integer entry of any width, widened to uint64, as rpm
// does for tags stored as INT32 in some packages and INT64 in others.
func (h *Header) Ints(tag Tag) ([]uint64, error) {
	e, d, err := h.lookup(tag, TypeChar, TypeInt8, TypeInt16, TypeInt32, TypeInt64)
	if err != nil {
		return nil, err
	}
	sz := e.Type.size()
	out := make([]uint64, e.Count)
	for i := range out {
		b := d[uint32(i)*sz:]
		switch sz {
		case 1:
			out[i] = uint64(b[0])
		case 2:
			out[i] = uint64(binary.BigEndian.Uint16(b))
		case 4:
			out[i] = uint64(binary.BigEndian.Uint32(b))
		case 8:
			out[i] = binary.BigEndian.Uint64(b)
		}
	}
	return out, nil
}

// Int returns the first value of an integer entry.
func (h *Header) Int(tag Tag) (uint64, error) {
	v, err := h.Ints(tag)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}
