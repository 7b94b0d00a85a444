package header

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// LeadSize is the size of the lead, the fixed block an RPM file starts with.
const LeadSize = 96

var leadMagic = [4]byte{0xed, 0xab, 0xee, 0xdb}

// Lead is the obsolete fixed-size block at the start of an RPM file. rpm
// only trusts the headers; the lead is parsed to recognise the file.
type Lead struct {
	Major, Minor  uint8
	Type          uint16 // 0 binary, 1 source
	Arch          uint16
	Name          string
	OS            uint16
	SignatureType uint16 // 5: a header-style signature follows
}

// Package is the start of an RPM file: lead, signature header and main
// header, with their positions in the file. The payload follows at
// PayloadStart.
type Package struct {
	Lead      Lead
	Signature *Header
	Header    *Header

	SignatureStart int64 // always LeadSize
	HeaderStart    int64 // after the signature header and its padding
	PayloadStart   int64 // HeaderStart + len(Header.Bytes())
}

// Read reads an RPM file's lead, signature header and main header from r,
// stopping exactly at the start of the payload, so the caller can go on
// reading the payload from r. It never reads past the main header.
func Read(r io.Reader) (*Package, error) {
	var lb [LeadSize]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, fmt.Errorf("reading lead: %w", truncated(err))
	}
	if !bytes.Equal(lb[:4], leadMagic[:]) {
		return nil, fmt.Errorf("not an rpm package: bad lead magic % x", lb[:4])
	}
	p := &Package{Lead: Lead{
		Major:         lb[4],
		Minor:         lb[5],
		Type:          binary.BigEndian.Uint16(lb[6:]),
		Arch:          binary.BigEndian.Uint16(lb[8:]),
		OS:            binary.BigEndian.Uint16(lb[76:]),
		SignatureType: binary.BigEndian.Uint16(lb[78:]),
	}}
	name := lb[10:76]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	p.Lead.Name = string(name)
	if p.Lead.Major < 3 || p.Lead.Major > 4 {
		return nil, fmt.Errorf("unsupported rpm lead version %d.%d", p.Lead.Major, p.Lead.Minor)
	}
	if p.Lead.SignatureType != 5 {
		return nil, fmt.Errorf("unsupported rpm signature type %d (want 5, a header)", p.Lead.SignatureType)
	}
	p.SignatureStart = LeadSize
	sig, err := readBlob(r, kindSignature)
	if err != nil {
		return nil, err
	}
	p.Signature = sig
	pad := (8 - len(sig.raw)%8) % 8
	if pad > 0 {
		var zeros [8]byte
		if _, err := io.ReadFull(r, zeros[:pad]); err != nil {
			return nil, fmt.Errorf("reading signature header padding: %w", truncated(err))
		}
	}
	p.HeaderStart = p.SignatureStart + int64(len(sig.raw)+pad)
	h, err := readBlob(r, kindMain)
	if err != nil {
		return nil, err
	}
	if h.region != TagHeaderImmutable {
		return nil, fmt.Errorf("reading header: no immutable region (a pre-rpm-4 package?)")
	}
	p.Header = h
	p.PayloadStart = p.HeaderStart + int64(len(h.raw))
	return p, nil
}
