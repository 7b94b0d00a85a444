package nocloud

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// ISO 9660 (ECMA-119) as far as reading one file from the root directory
// needs: the primary volume descriptor, a Joliet supplementary descriptor
// when present, and Rock Ridge NM names (SUSP, IEEE P1282) in the primary
// tree.

const (
	isoSector     = 2048
	isoFirstVD    = 16 // volume descriptors start at sector 16
	isoMaxVDs     = 64 // bound on the descriptor sequence
	isoMaxDirSize = 1 << 20
	isoMaxCE      = 16 // bound on Rock Ridge continuation areas per record
)

func isISO9660(r io.ReaderAt) bool {
	var b [6]byte
	if _, err := r.ReadAt(b[:], isoFirstVD*isoSector); err != nil {
		return false
	}
	return string(b[1:6]) == "CD001"
}

type isoVolume struct {
	r          io.ReaderAt
	size       int64
	label      string
	root       []byte // root directory record of the primary descriptor
	jolietRoot []byte // root directory record of the Joliet descriptor, if any
}

func openISO9660(r io.ReaderAt, size int64) (*isoVolume, error) {
	v := &isoVolume{r: r, size: size}
	vd := make([]byte, isoSector)
	for i := 0; i < isoMaxVDs; i++ {
		if _, err := r.ReadAt(vd, int64(isoFirstVD+i)*isoSector); err != nil {
			return nil, fmt.Errorf("reading volume descriptor %d: %w", i, err)
		}
		if string(vd[1:6]) != "CD001" {
			return nil, fmt.Errorf("volume descriptor %d: bad identifier", i)
		}
		switch vd[0] {
		case 1: // primary
			if v.root == nil {
				v.label = strings.TrimRight(string(vd[40:72]), " \x00")
				v.root = bytes.Clone(vd[156 : 156+34])
			}
		case 2: // supplementary: Joliet when the escape sequence says UCS-2
			esc := string(vd[88:91])
			if v.jolietRoot == nil && (esc == "%/@" || esc == "%/C" || esc == "%/E") {
				v.jolietRoot = bytes.Clone(vd[156 : 156+34])
			}
		case 255: // terminator
			if v.root == nil {
				return nil, errors.New("no primary volume descriptor")
			}
			return v, nil
		}
	}
	return nil, errors.New("volume descriptor sequence has no terminator")
}

// isoRecord is one parsed directory record.
type isoRecord struct {
	name   string // identifier as stored (ISO name with ;version, or decoded Joliet)
	rrName string // Rock Ridge alternate name, if any
	extent uint32
	length uint32
	flags  byte
}

func (rec isoRecord) isDir() bool { return rec.flags&0x02 != 0 }

func parseRecordHeader(b []byte) (isoRecord, int, error) {
	if len(b) < 34 || int(b[0]) < 34 || int(b[0]) > len(b) {
		return isoRecord{}, 0, errors.New("malformed directory record")
	}
	n := int(b[32])
	if 33+n > int(b[0]) {
		return isoRecord{}, 0, errors.New("directory record name overruns the record")
	}
	return isoRecord{
		extent: binary.LittleEndian.Uint32(b[2:6]),
		length: binary.LittleEndian.Uint32(b[10:14]),
		flags:  b[25],
		name:   string(b[33 : 33+n]),
	}, n, nil
}

// readExtent reads length bytes at sector extent, refusing anything past
// the end of the volume or over max.
func (v *isoVolume) readExtent(extent, length uint32, max int64) ([]byte, error) {
	off := int64(extent) * isoSector
	if int64(length) > max {
		return nil, fmt.Errorf("extent of %d bytes is over the %d byte limit", length, max)
	}
	if off+int64(length) > v.size {
		return nil, fmt.Errorf("extent at sector %d (%d bytes) runs past the end of the volume", extent, length)
	}
	b := make([]byte, length)
	if _, err := v.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("reading sector %d: %w", extent, err)
	}
	return b, nil
}

// readDir lists a directory given its own record. joliet decodes names as
// UCS-2; otherwise Rock Ridge names are collected.
func (v *isoVolume) readDir(self []byte, joliet bool) ([]isoRecord, error) {
	dir, _, err := parseRecordHeader(self)
	if err != nil {
		return nil, fmt.Errorf("root directory record: %w", err)
	}
	data, err := v.readExtent(dir.extent, dir.length, isoMaxDirSize)
	if err != nil {
		return nil, fmt.Errorf("reading root directory: %w", err)
	}
	var out []isoRecord
	skip := 0 // SUSP bytes to skip in each system use area (SP entry's LEN_SKP)
	for pos := 0; pos < len(data); {
		if data[pos] == 0 { // records never cross a sector: rest of sector is padding
			pos = (pos/isoSector + 1) * isoSector
			continue
		}
		end := pos + int(data[pos])
		if end > len(data) || (pos/isoSector) != ((end-1)/isoSector) {
			return nil, fmt.Errorf("directory record at byte %d crosses a sector boundary", pos)
		}
		b := data[pos:end]
		pos = end
		rec, n, err := parseRecordHeader(b)
		if err != nil {
			return nil, err
		}
		su := 33 + n
		if n%2 == 0 {
			su++ // padding byte after an even-length identifier
		}
		var sysUse []byte
		if su <= len(b) {
			sysUse = b[su:]
		}
		if n == 1 && (b[33] == 0 || b[33] == 1) { // "." and ".."
			if b[33] == 0 && !joliet && len(sysUse) >= 7 && string(sysUse[:2]) == "SP" &&
				sysUse[4] == 0xBE && sysUse[5] == 0xEF {
				skip = int(sysUse[6])
			}
			continue
		}
		if joliet {
			rec.name = decodeUCS2(b[33 : 33+n])
		} else if skip <= len(sysUse) {
			rec.rrName = v.rockRidgeName(sysUse[skip:])
		}
		out = append(out, rec)
	}
	return out, nil
}

// rockRidgeName concatenates the NM entries of a system use area,
// following CE continuation areas a bounded number of times.
func (v *isoVolume) rockRidgeName(area []byte) string {
	var name []byte
	for hops := 0; area != nil && hops <= isoMaxCE; hops++ {
		next := []byte(nil)
		for len(area) >= 4 {
			l := int(area[2])
			if l < 4 || l > len(area) {
				break
			}
			e := area[:l]
			area = area[l:]
			switch string(e[:2]) {
			case "NM":
				if l >= 5 && e[4]&0x06 == 0 { // not CURRENT or PARENT
					name = append(name, e[5:]...)
				}
			case "CE":
				if l >= 28 {
					blk := binary.LittleEndian.Uint32(e[4:8])
					off := binary.LittleEndian.Uint32(e[12:16])
					n := binary.LittleEndian.Uint32(e[20:24])
					if off < isoSector && n <= isoSector-off {
						if b, err := v.readExtent(blk, off+n, isoSector); err == nil {
							next = b[off:]
						}
					}
				}
			case "ST":
				area = nil
			}
		}
		area = next
	}
	return string(name)
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// isoBaseName strips the ";version" and the lone "." ISO 9660 appends to
// names without an extension.
func isoBaseName(s string) string {
	if i := strings.LastIndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// iso83 is the level 1 (8.3, upper case) form mkisofs gives name.
func iso83(name string) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	clean := func(s string, n int) string {
		s = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z':
				return r - 'a' + 'A'
			case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
				return r
			}
			return '_'
		}, s)
		if len(s) > n {
			s = s[:n]
		}
		return s
	}
	if ext == "" {
		return clean(base, 8)
	}
	return clean(base, 8) + "." + clean(ext, 3)
}

// readFile finds name in the root directory: by Rock Ridge name, then by
// Joliet name, then by the plain ISO 9660 name (as stored, or in its level
// 1 8.3 form, e.g. KILN.YAM;1 for kiln.yaml).
func (v *isoVolume) readFile(name string, max int64) ([]byte, error) {
	primary, err := v.readDir(v.root, false)
	if err != nil {
		return nil, err
	}
	var found *isoRecord
	for i, rec := range primary {
		if !rec.isDir() && rec.rrName != "" && rec.rrName == name {
			found = &primary[i]
			break
		}
	}
	if found == nil && v.jolietRoot != nil {
		joliet, err := v.readDir(v.jolietRoot, true)
		if err != nil {
			return nil, fmt.Errorf("joliet tree: %w", err)
		}
		for i, rec := range joliet {
			if !rec.isDir() && isoBaseName(rec.name) == name {
				found = &joliet[i]
				break
			}
		}
	}
	if found == nil {
		short := iso83(name)
		for i, rec := range primary {
			base := isoBaseName(rec.name)
			if !rec.isDir() && (strings.EqualFold(base, name) || base == short) {
				found = &primary[i]
				break
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if found.flags&0x80 != 0 {
		return nil, fmt.Errorf("%s: multi-extent files are not supported", name)
	}
	if int64(found.length) > max {
		return nil, &tooBigError{size: int64(found.length), max: max}
	}
	return v.readExtent(found.extent, found.length, max)
}

type tooBigError struct{ size, max int64 }

func (e *tooBigError) Error() string {
	return fmt.Sprintf("file is %d bytes, over the %d byte limit", e.size, e.max)
}
