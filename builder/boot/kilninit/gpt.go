package kilninit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/disk/ondisk"
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

// GrowLastPartition moves the backup GPT to the end of a disk of the given
// size and extends the partition that ends last to fill the space, as
// growpart does. It changes nothing when the GPT already spans the disk.
// The backup copy is written before the primary, so a crash part way leaves
// the old, valid primary table.
func GrowLastPartition(d Disk, size int64) (Growth, error) {
	var g Growth
	h, err := ondisk.ReadGPT(d)
	if err != nil {
		return g, fmt.Errorf("%w; not touching the disk", err)
	}
	ss := h.SectorSize
	g.SectorSize = ss
	entriesLen := int64(h.NumEntries) * int64(h.EntrySize)
	entries, err := h.ReadEntries(d)
	if err != nil {
		return g, fmt.Errorf("%w; not touching the disk", err)
	}
	last := -1
	var lastEnd uint64
	for i := 0; i < int(h.NumEntries); i++ {
		e := entries[i*int(h.EntrySize):]
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
	e := entries[last*int(h.EntrySize):]
	g.Partition = last + 1
	g.StartLBA = binary.LittleEndian.Uint64(e[32:])
	g.OldLastLBA, g.NewLastLBA = lastEnd, lastEnd

	diskLast := uint64(size/ss) - 1
	entrySectors := uint64((entriesLen + ss - 1) / ss)
	newLastUse := diskLast - entrySectors - 1
	if newLastUse < h.LastUsable || diskLast < h.BackupLBA {
		return g, fmt.Errorf("disk (%d sectors) is smaller than its GPT says (last usable %d)", diskLast+1, h.LastUsable)
	}
	if h.BackupLBA == diskLast && lastEnd >= newLastUse {
		return g, nil
	}
	// End on a 1 MiB boundary, as kiln's disk layout does, so a disk of the
	// size it was built for is left alone rather than grown by the
	// sub-MiB gap before the backup table.
	align := uint64((1 << 20) / ss)
	if end := (newLastUse+1)/align*align - 1; end > lastEnd {
		g.NewLastLBA = end
		binary.LittleEndian.PutUint64(e[40:], end)
	} else if h.BackupLBA == diskLast {
		return g, nil
	}
	entriesCRC := crc32.ChecksumIEEE(entries)

	primary := bytes.Clone(h.Raw)
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
		{"GPT entries", entries, int64(h.EntriesLBA) * ss},
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
