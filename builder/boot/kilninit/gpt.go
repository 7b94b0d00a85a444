package kilninit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Disk is a block device or image file that can be read and written.
type Disk interface {
	io.ReaderAt
	io.WriterAt
}

// Growth says what GrowLastPartition changed.
type Growth struct {
	Partition  int    // 1-based partition number that grew
	StartLBA   uint64 // unchanged
	OldLastLBA uint64
	NewLastLBA uint64
	SectorSize int64
}

// Grew reports whether the partition got larger.
func (g Growth) Grew() bool { return g.NewLastLBA > g.OldLastLBA }

// Size returns the partition's new size in bytes.
func (g Growth) Size() int64 { return int64(g.NewLastLBA-g.StartLBA+1) * g.SectorSize }

type gptHeader struct {
	raw        []byte
	backupLBA  uint64
	firstUse   uint64
	lastUse    uint64
	entriesLBA uint64
	numEntries uint32
	entrySize  uint32
	entriesCRC uint32
}

var errNoGPT = errors.New("no GPT found")

// GrowLastPartition moves the backup GPT to the end of a disk of the given
// size and extends the partition that ends last to fill the space, as
// growpart does. It changes nothing when the GPT already spans the disk.
// The backup copy is written before the primary, so a crash part way leaves
// the old, valid primary table.
func GrowLastPartition(d Disk, size int64) (Growth, error) {
	var g Growth
	h, ss, err := readPrimary(d)
	if err != nil {
		return g, err
	}
	g.SectorSize = ss
	entriesLen := int64(h.numEntries) * int64(h.entrySize)
	entries := make([]byte, entriesLen)
	if _, err := d.ReadAt(entries, int64(h.entriesLBA)*ss); err != nil {
		return g, fmt.Errorf("reading GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != h.entriesCRC {
		return g, errors.New("GPT entries checksum mismatch; not touching the disk")
	}
	last := -1
	var lastEnd uint64
	for i := 0; i < int(h.numEntries); i++ {
		e := entries[i*int(h.entrySize):]
		if allZero(e[:16]) {
			continue
		}
		if end := binary.LittleEndian.Uint64(e[40:]); end >= lastEnd {
			last, lastEnd = i, end
		}
	}
	if last < 0 {
		return g, errors.New("GPT has no partitions")
	}
	e := entries[last*int(h.entrySize):]
	g.Partition = last + 1
	g.StartLBA = binary.LittleEndian.Uint64(e[32:])
	g.OldLastLBA, g.NewLastLBA = lastEnd, lastEnd

	diskLast := uint64(size/ss) - 1
	entrySectors := uint64((entriesLen + ss - 1) / ss)
	newLastUse := diskLast - entrySectors - 1
	if newLastUse < h.lastUse || diskLast < h.backupLBA {
		return g, fmt.Errorf("disk (%d sectors) is smaller than its GPT says (last usable %d)", diskLast+1, h.lastUse)
	}
	if h.backupLBA == diskLast && lastEnd >= newLastUse {
		return g, nil
	}
	// End on a 1 MiB boundary, as kiln's disk layout does, so a disk of the
	// size it was built for is left alone rather than grown by the
	// sub-MiB gap before the backup table.
	align := uint64((1 << 20) / ss)
	if end := (newLastUse+1)/align*align - 1; end > lastEnd {
		g.NewLastLBA = end
		binary.LittleEndian.PutUint64(e[40:], end)
	} else if h.backupLBA == diskLast {
		return g, nil
	}
	entriesCRC := crc32.ChecksumIEEE(entries)

	primary := bytes.Clone(h.raw)
	binary.LittleEndian.PutUint64(primary[32:], diskLast)
	binary.LittleEndian.PutUint64(primary[48:], newLastUse)
	binary.LittleEndian.PutUint32(primary[88:], entriesCRC)
	setHeaderCRC(primary)

	backup := bytes.Clone(primary)
	binary.LittleEndian.PutUint64(backup[24:], diskLast)
	binary.LittleEndian.PutUint64(backup[32:], 1)
	binary.LittleEndian.PutUint64(backup[72:], diskLast-entrySectors)
	setHeaderCRC(backup)

	backupEntriesAt := int64(diskLast-entrySectors) * ss
	for _, w := range []struct {
		what string
		data []byte
		off  int64
	}{
		{"backup GPT entries", entries, backupEntriesAt},
		{"backup GPT header", padSector(backup, ss), int64(diskLast) * ss},
		{"GPT entries", entries, int64(h.entriesLBA) * ss},
		{"GPT header", padSector(primary, ss), ss},
	} {
		if _, err := d.WriteAt(w.data, w.off); err != nil {
			return g, fmt.Errorf("writing %s: %w", w.what, err)
		}
	}
	if err := fixProtectiveMBR(d, diskLast); err != nil {
		return g, err
	}
	return g, nil
}

func readPrimary(d Disk) (gptHeader, int64, error) {
	for _, ss := range []int64{512, 4096} {
		sec := make([]byte, ss)
		if _, err := d.ReadAt(sec, ss); err != nil {
			continue
		}
		if string(sec[:8]) != "EFI PART" {
			continue
		}
		hsize := binary.LittleEndian.Uint32(sec[12:])
		if hsize < 92 || int64(hsize) > ss {
			return gptHeader{}, 0, fmt.Errorf("GPT header size %d is not valid", hsize)
		}
		raw := bytes.Clone(sec[:hsize])
		want := binary.LittleEndian.Uint32(raw[16:])
		binary.LittleEndian.PutUint32(raw[16:], 0)
		if crc32.ChecksumIEEE(raw) != want {
			return gptHeader{}, 0, errors.New("GPT header checksum mismatch; not touching the disk")
		}
		binary.LittleEndian.PutUint32(raw[16:], want)
		h := gptHeader{
			raw:        raw,
			backupLBA:  binary.LittleEndian.Uint64(raw[32:]),
			firstUse:   binary.LittleEndian.Uint64(raw[40:]),
			lastUse:    binary.LittleEndian.Uint64(raw[48:]),
			entriesLBA: binary.LittleEndian.Uint64(raw[72:]),
			numEntries: binary.LittleEndian.Uint32(raw[80:]),
			entrySize:  binary.LittleEndian.Uint32(raw[84:]),
			entriesCRC: binary.LittleEndian.Uint32(raw[88:]),
		}
		if h.entrySize < 128 || h.entrySize%8 != 0 || h.numEntries == 0 || h.numEntries > 1024 {
			return gptHeader{}, 0, fmt.Errorf("GPT entry table (%d × %d bytes) is not valid", h.numEntries, h.entrySize)
		}
		return h, ss, nil
	}
	return gptHeader{}, 0, errNoGPT
}

func setHeaderCRC(h []byte) {
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
}

func padSector(b []byte, ss int64) []byte {
	out := make([]byte, ss)
	copy(out, b)
	return out
}

// fixProtectiveMBR stretches the 0xEE entry over the grown disk, keeping
// the boot code (GRUB's boot.img) in the first 440 bytes untouched.
func fixProtectiveMBR(d Disk, diskLast uint64) error {
	mbr := make([]byte, 512)
	if _, err := d.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("reading MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil
	}
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i:]
		if e[4] != 0xEE {
			continue
		}
		n := diskLast
		if n > 0xFFFFFFFF {
			n = 0xFFFFFFFF
		}
		binary.LittleEndian.PutUint32(e[12:], uint32(n))
		if _, err := d.WriteAt(e[:16], int64(446+16*i)); err != nil {
			return fmt.Errorf("writing MBR: %w", err)
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
