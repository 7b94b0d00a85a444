package ondisk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// ErrNoGPT is ReadGPT on a disk with no GPT header.
var ErrNoGPT = errors.New("no GPT found")

// GPTHeader is a primary GPT header whose checksum matched.
type GPTHeader struct {
	Raw        []byte // the header's bytes (its size, not the sector's)
	SectorSize int64
	DiskGUID   string
	BackupLBA  uint64
	FirstUsable,
	LastUsable uint64
	EntriesLBA uint64
	NumEntries uint32
	EntrySize  uint32
	EntriesCRC uint32
}

// ReadGPT reads the primary GPT header, trying 512- then 4096-byte
// sectors, and checks its checksum and the shape of its entry table.
func ReadGPT(r io.ReaderAt) (GPTHeader, error) {
	for _, ss := range []int64{512, 4096} {
		sec := make([]byte, ss)
		if _, err := r.ReadAt(sec, ss); err != nil {
			continue
		}
		if string(sec[:8]) != "EFI PART" {
			continue
		}
		hsize := binary.LittleEndian.Uint32(sec[12:])
		if hsize < 92 || int64(hsize) > ss {
			return GPTHeader{}, fmt.Errorf("GPT header size %d is not valid", hsize)
		}
		raw := bytes.Clone(sec[:hsize])
		want := binary.LittleEndian.Uint32(raw[16:])
		binary.LittleEndian.PutUint32(raw[16:], 0)
		if crc32.ChecksumIEEE(raw) != want {
			return GPTHeader{}, errors.New("GPT header checksum mismatch")
		}
		binary.LittleEndian.PutUint32(raw[16:], want)
		h := GPTHeader{
			Raw:         raw,
			SectorSize:  ss,
			DiskGUID:    GUID(raw[56:72]),
			BackupLBA:   binary.LittleEndian.Uint64(raw[32:]),
			FirstUsable: binary.LittleEndian.Uint64(raw[40:]),
			LastUsable:  binary.LittleEndian.Uint64(raw[48:]),
			EntriesLBA:  binary.LittleEndian.Uint64(raw[72:]),
			NumEntries:  binary.LittleEndian.Uint32(raw[80:]),
			EntrySize:   binary.LittleEndian.Uint32(raw[84:]),
			EntriesCRC:  binary.LittleEndian.Uint32(raw[88:]),
		}
		if h.EntrySize < 128 || h.EntrySize > 1024 || h.EntrySize%8 != 0 || h.NumEntries == 0 || h.NumEntries > 1024 {
			return GPTHeader{}, fmt.Errorf("GPT entry table (%d × %d bytes) is not valid", h.NumEntries, h.EntrySize)
		}
		return h, nil
	}
	return GPTHeader{}, ErrNoGPT
}

// ReadEntries reads the partition entry array and checks its checksum.
func (h GPTHeader) ReadEntries(r io.ReaderAt) ([]byte, error) {
	entries := make([]byte, int64(h.NumEntries)*int64(h.EntrySize))
	if _, err := r.ReadAt(entries, int64(h.EntriesLBA)*h.SectorSize); err != nil {
		return nil, fmt.Errorf("reading GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != h.EntriesCRC {
		return nil, errors.New("GPT entries checksum mismatch")
	}
	return entries, nil
}

// Partition is one used GPT entry.
type Partition struct {
	Number            int // 1-based entry number
	Name, Type, GUID  string
	FirstLBA, LastLBA uint64
}

// Start and Size are the partition's offset and length in bytes.
func (p Partition) Start(sectorSize int64) int64 { return int64(p.FirstLBA) * sectorSize }
func (p Partition) Size(sectorSize int64) int64 {
	return int64(p.LastLBA-p.FirstLBA+1) * sectorSize
}

// Partitions lists the used entries of entries, in entry order.
func (h GPTHeader) Partitions(entries []byte) []Partition {
	var parts []Partition
	for i := 0; i < int(h.NumEntries); i++ {
		e := entries[i*int(h.EntrySize):]
		if allZero(e[:16]) {
			continue
		}
		u16 := make([]uint16, 36)
		for j := range u16 {
			u16[j] = binary.LittleEndian.Uint16(e[56+2*j:])
		}
		parts = append(parts, Partition{
			Number: i + 1, Name: strings.TrimRight(string(utf16.Decode(u16)), "\x00"),
			Type: GUID(e[0:16]), GUID: GUID(e[16:32]),
			FirstLBA: binary.LittleEndian.Uint64(e[32:]), LastLBA: binary.LittleEndian.Uint64(e[40:]),
		})
	}
	return parts
}

// GUID formats a GPT GUID (mixed-endian) as lower-case text.
func GUID(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
