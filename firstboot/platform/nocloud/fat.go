package nocloud

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// FAT12/16/32 as far as reading one file from the root directory needs:
// the BIOS parameter block, the first FAT, the root directory with VFAT
// long names, and cluster chains.

const fatMaxRootSize = 1 << 20

type fatVolume struct {
	r           io.ReaderAt
	size        int64
	bits        int // 12, 16 or 32
	bps         int64
	clusterSize int64
	fatOffset   int64 // byte offset of the first FAT
	fatBytes    int64 // size of one FAT
	rootOffset  int64 // FAT12/16: byte offset of the fixed root directory
	rootSize    int64 // FAT12/16: its size
	rootCluster uint32
	dataOffset  int64 // byte offset of cluster 2
	clusters    uint32
	bpbLabel    string
}

// openFAT reads the boot sector. It returns an error for anything that
// is not a plausible FAT volume.
func openFAT(r io.ReaderAt, size int64) (*fatVolume, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("reading boot sector: %w", err)
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, errors.New("no boot sector signature")
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	bps, spc, rsvd, nfats := le16(11), int64(b[13]), le16(14), int64(b[16])
	rootEnt, tot, fatSz := le16(17), le16(19), le16(22)
	if tot == 0 {
		tot = le32(32)
	}
	if fatSz == 0 {
		fatSz = le32(36)
	}
	switch bps {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("bad bytes per sector %d", bps)
	}
	if spc == 0 || spc&(spc-1) != 0 || rsvd == 0 || nfats == 0 || fatSz == 0 || tot == 0 {
		return nil, errors.New("implausible BIOS parameter block")
	}
	rootSectors := (rootEnt*32 + bps - 1) / bps
	firstData := rsvd + nfats*fatSz + rootSectors
	if firstData >= tot {
		return nil, errors.New("BIOS parameter block leaves no data area")
	}
	v := &fatVolume{
		r: r, size: size, bps: bps,
		clusterSize: spc * bps,
		fatOffset:   rsvd * bps,
		fatBytes:    fatSz * bps,
		rootOffset:  (rsvd + nfats*fatSz) * bps,
		rootSize:    rootEnt * 32,
		dataOffset:  firstData * bps,
		clusters:    uint32((tot - firstData) / spc),
	}
	// The FAT type follows from the cluster count alone (Microsoft's
	// FAT specification), not from the type string.
	labelAt := 43
	switch {
	case v.clusters < 4085:
		v.bits = 12
	case v.clusters < 65525:
		v.bits = 16
	default:
		v.bits, labelAt = 32, 71
		v.rootCluster = uint32(le32(44))
		v.rootSize = 0
	}
	if b[labelAt-5] == 0x29 { // extended boot signature: label present
		v.bpbLabel = strings.TrimRight(string(b[labelAt:labelAt+11]), " ")
	}
	return v, nil
}

// next returns the FAT entry for cluster c, and whether it ends the chain.
func (v *fatVolume) next(c uint32) (uint32, bool, error) {
	var off int64
	switch v.bits {
	case 12:
		off = int64(c) + int64(c)/2
	case 16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	var b [4]byte
	n := 2
	if v.bits == 32 {
		n = 4
	}
	if off+int64(n) > v.fatBytes {
		return 0, false, fmt.Errorf("cluster %d is outside the FAT", c)
	}
	if _, err := v.r.ReadAt(b[:n], v.fatOffset+off); err != nil {
		return 0, false, fmt.Errorf("reading FAT entry %d: %w", c, err)
	}
	var e, eoc uint32
	switch v.bits {
	case 12:
		e = uint32(binary.LittleEndian.Uint16(b[:]))
		if c%2 == 1 {
			e >>= 4
		}
		e &= 0xFFF
		eoc = 0xFF8
	case 16:
		e, eoc = uint32(binary.LittleEndian.Uint16(b[:])), 0xFFF8
	default:
		e, eoc = binary.LittleEndian.Uint32(b[:])&0x0FFFFFFF, 0x0FFFFFF8
	}
	if e >= eoc {
		return 0, true, nil
	}
	if e < 2 || e >= v.clusters+2 {
		return 0, false, fmt.Errorf("FAT entry %d points to invalid cluster %#x", c, e)
	}
	return e, false, nil
}

// readChain reads up to n bytes following the chain from cluster first.
func (v *fatVolume) readChain(first uint32, n int64) ([]byte, error) {
	out := make([]byte, 0, n)
	c := first
	seen := map[uint32]bool{}
	for int64(len(out)) < n {
		if c < 2 || c >= v.clusters+2 {
			return nil, fmt.Errorf("invalid cluster %#x in chain", c)
		}
		if seen[c] {
			return nil, fmt.Errorf("cluster chain loops back to cluster %d", c)
		}
		seen[c] = true
		off := v.dataOffset + int64(c-2)*v.clusterSize
		chunk := min(v.clusterSize, n-int64(len(out)))
		if off+chunk > v.size {
			return nil, fmt.Errorf("cluster %d runs past the end of the volume", c)
		}
		buf := make([]byte, chunk)
		if _, err := v.r.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("reading cluster %d: %w", c, err)
		}
		out = append(out, buf...)
		if int64(len(out)) >= n {
			break
		}
		nc, end, err := v.next(c)
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		c = nc
	}
	return out, nil
}

// rootDir returns the raw root directory.
func (v *fatVolume) rootDir() ([]byte, error) {
	if v.bits != 32 {
		if v.rootOffset+v.rootSize > v.size {
			return nil, errors.New("root directory runs past the end of the volume")
		}
		b := make([]byte, v.rootSize)
		if _, err := v.r.ReadAt(b, v.rootOffset); err != nil {
			return nil, fmt.Errorf("reading root directory: %w", err)
		}
		return b, nil
	}
	return v.readChain(v.rootCluster, fatMaxRootSize)
}

type fatEntry struct {
	name    string // long name if valid, else the 8.3 name
	short   string
	attr    byte
	cluster uint32
	size    uint32
}

// entries parses a directory, returning files and directories, and the
// volume label entry's text if there is one.
func (v *fatVolume) entries(dir []byte) (out []fatEntry, label string) {
	var (
		lfn    [20][13]uint16
		lfnN   int  // number of parts announced by the last-part entry
		lfnSum byte // checksum the long name parts carry
		lfnOK  bool
	)
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 {
			lfnOK = false
			continue
		}
		attr := e[11]
		if attr&0x3F == 0x0F { // long name part
			seq := int(e[0] & 0x1F)
			if e[0]&0x40 != 0 {
				lfnN, lfnSum, lfnOK = seq, e[13], seq >= 1 && seq <= len(lfn)
				lfn = [20][13]uint16{}
			}
			if !lfnOK || seq < 1 || seq > lfnN || e[13] != lfnSum {
				lfnOK = false
				continue
			}
			p := &lfn[seq-1]
			for j, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				p[j] = binary.LittleEndian.Uint16(e[o:])
			}
			continue
		}
		var raw [11]byte
		copy(raw[:], e[:11])
		if raw[0] == 0x05 {
			raw[0] = 0xE5
		}
		if attr&0x08 != 0 {
			if label == "" && attr&0x10 == 0 {
				label = strings.TrimRight(string(raw[:]), " ")
			}
			lfnOK = false
			continue
		}
		ent := fatEntry{
			short:   shortName(raw, e[12]),
			attr:    attr,
			cluster: uint32(binary.LittleEndian.Uint16(e[26:])),
			size:    binary.LittleEndian.Uint32(e[28:]),
		}
		if v.bits == 32 {
			ent.cluster |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		ent.name = ent.short
		if lfnOK && lfnSum == lfnChecksum(raw) {
			ent.name = joinLFN(lfn[:lfnN])
		}
		lfnOK = false
		out = append(out, ent)
	}
	return out, label
}

func lfnChecksum(raw [11]byte) byte {
	var s byte
	for _, c := range raw {
		s = (s>>1 | s<<7) + c
	}
	return s
}

func joinLFN(parts [][13]uint16) string {
	var u []uint16
	for _, p := range parts {
		for _, c := range p {
			if c == 0 {
				return string(utf16.Decode(u))
			}
			u = append(u, c)
		}
	}
	return string(utf16.Decode(u))
}

// shortName renders an 8.3 entry, honouring the lower-case flags Windows NT
// (and Linux vfat) keep in byte 12 of the entry.
func shortName(raw [11]byte, caseFlags byte) string {
	base := strings.TrimRight(string(raw[:8]), " ")
	ext := strings.TrimRight(string(raw[8:]), " ")
	if caseFlags&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if caseFlags&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

func (v *fatVolume) label() (string, error) {
	dir, err := v.rootDir()
	if err != nil {
		return "", err
	}
	// Like blkid, prefer the root directory's label entry; mkfs.fat writes
	// both, but tools that relabel sometimes update only one.
	_, label := v.entries(dir)
	if label == "" && v.bpbLabel != "NO NAME" {
		label = v.bpbLabel
	}
	return label, nil
}

// readFile finds name in the root directory (long name, or 8.3 name, case
// insensitively as FAT itself is) and reads it.
func (v *fatVolume) readFile(name string, max int64) ([]byte, error) {
	dir, err := v.rootDir()
	if err != nil {
		return nil, err
	}
	ents, _ := v.entries(dir)
	for _, e := range ents {
		if e.attr&0x10 != 0 || !(strings.EqualFold(e.name, name) || strings.EqualFold(e.short, name)) {
			continue
		}
		if int64(e.size) > max {
			return nil, &tooBigError{size: int64(e.size), max: max}
		}
		if e.size == 0 {
			return []byte{}, nil
		}
		return v.readChain(e.cluster, int64(e.size))
	}
	return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}
