package disk

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Partition type GUIDs (UEFI spec; Discoverable Partitions Specification).
const (
	TypeBIOSBoot = "21686148-6449-6E6F-744E-656564454649"
	TypeESP      = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	TypeRootX86  = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
)

const (
	// SectorSize is the logical sector size of every image kiln writes.
	SectorSize = 512
	mib        = 1 << 20
	// gptSectors is the size of one partition array (128 entries of 128
	// bytes) plus its header.
	gptSectors = 33
	// DefaultESPSize is the ESP's size when Options.ESPSize is zero.
	DefaultESPSize = 200 * mib
	biosBootSize   = 1 * mib
	minRootSize    = 64 * mib
	// The protective MBR records the disk size in 32 bits of sectors.
	maxDiskSize = int64(0xFFFFFFFF) * SectorSize
)

// Compat names the oldest guest the root filesystem must work with.
type Compat string

const (
	// CompatEL8 (the default) suits EL8 and EL9: kernel 4.18+, e2fsprogs
	// 1.45+, GRUB 2.02+. Features: 64bit and metadata_csum, without
	// orphan_file (e2fsprogs 1.47) or metadata_csum_seed (GRUB < 2.06
	// refuses it).
	CompatEL8 Compat = "el8"
	// CompatEL7 suits CentOS 7 (kernel 3.10, e2fsprogs 1.42.9): no
	// metadata_csum and no 64bit; uninit_bg guards the group descriptors.
	CompatEL7 Compat = "el7"
)

// Options are the inputs of Plan.
type Options struct {
	// Size is the whole disk in bytes, a multiple of 1 MiB.
	Size int64
	// ESPSize is the EFI System Partition's size, a multiple of 1 MiB;
	// zero means DefaultESPSize.
	ESPSize int64
	// Seed is the lock digest; every GUID, UUID, hash seed and the ESP
	// volume ID are derived from it.
	Seed string
	// Time stamps the filesystems (SOURCE_DATE_EPOCH).
	Time time.Time
	// Compat picks the root filesystem's feature set; empty means CompatEL8.
	Compat Compat
	// RootLabel and ESPLabel label the filesystems; empty means "root" and
	// "ESP".
	RootLabel string
	ESPLabel  string
}

// Partition is one GPT entry.
type Partition struct {
	Number   int    // 1-based
	Name     string // GPT partition name
	Type     string // type GUID, upper case
	GUID     string // unique partition GUID (PARTUUID), upper case
	FirstLBA uint64
	LastLBA  uint64 // inclusive
}

// Offset is the partition's first byte on the disk.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * SectorSize }

// Size is the partition's length in bytes.
func (p Partition) Size() int64 { return int64(p.LastLBA-p.FirstLBA+1) * SectorSize }

// Layout is everything about a disk that later stages need before it is
// written: fstab and grub.cfg refer to the root UUID and the ESP volume ID.
type Layout struct {
	Size     int64
	DiskGUID string
	// Partitions are, in order, the BIOS boot partition (1), the ESP (2)
	// and the root partition (3), which is last so that it can grow. Each
	// starts and ends on a 1 MiB boundary.
	Partitions []Partition
	Root       RootFS
	ESP        ESPFS
	Time       time.Time
}

// RootFS describes the ext4 root filesystem.
type RootFS struct {
	UUID     string // lower case, as blkid prints it
	HashSeed string // htree hash seed
	Label    string
	Compat   Compat
}

// ESPFS describes the FAT32 ESP.
type ESPFS struct {
	VolumeID uint32
	Label    string
}

// UUID is the volume ID as blkid prints it and fstab takes it ("UUID=1A2B-3C4D").
func (e ESPFS) UUID() string { return fmt.Sprintf("%04X-%04X", e.VolumeID>>16, e.VolumeID&0xFFFF) }

// BIOSBoot returns the BIOS boot partition.
func (l Layout) BIOSBoot() Partition { return l.Partitions[0] }

// ESPPartition returns the EFI System Partition.
func (l Layout) ESPPartition() Partition { return l.Partitions[1] }

// RootPartition returns the root partition.
func (l Layout) RootPartition() Partition { return l.Partitions[2] }

// Plan derives the disk's layout and identifiers from opts without touching
// anything; the same opts always give the same Layout.
func Plan(opts Options) (Layout, error) {
	if opts.Seed == "" {
		return Layout{}, errors.New("disk seed is empty (want the lock digest)")
	}
	if opts.Time.IsZero() || opts.Time.Unix() < 0 {
		return Layout{}, fmt.Errorf("disk time %v is unset or before 1970 (want SOURCE_DATE_EPOCH)", opts.Time)
	}
	if opts.Size <= 0 || opts.Size%mib != 0 {
		return Layout{}, fmt.Errorf("disk size %d is not a positive multiple of 1 MiB", opts.Size)
	}
	if opts.Size > maxDiskSize {
		return Layout{}, fmt.Errorf("disk size %d is larger than the 2 TiB a protective MBR can describe", opts.Size)
	}
	espSize := opts.ESPSize
	if espSize == 0 {
		espSize = DefaultESPSize
	}
	if espSize < 0 || espSize%mib != 0 {
		return Layout{}, fmt.Errorf("esp size %d is not a positive multiple of 1 MiB", espSize)
	}
	compat := opts.Compat
	if compat == "" {
		compat = CompatEL8
	}
	if _, ok := ext4Features[compat]; !ok {
		return Layout{}, fmt.Errorf("compat %q is unknown (want %q or %q)", compat, CompatEL8, CompatEL7)
	}
	rootLabel, espLabel := opts.RootLabel, opts.ESPLabel
	if rootLabel == "" {
		rootLabel = "root"
	}
	if espLabel == "" {
		espLabel = "ESP"
	}
	if len(rootLabel) > 16 {
		return Layout{}, fmt.Errorf("root label %q is longer than ext4's 16 bytes", rootLabel)
	}
	sectors := uint64(opts.Size / SectorSize)
	lastUsable := sectors - 1 - gptSectors
	// End the root partition on a 1 MiB boundary too (sgdisk -v cautions
	// otherwise); at most 1 MiB is left before the backup GPT.
	rootLast := (lastUsable+1)/(mib/SectorSize)*(mib/SectorSize) - 1
	espFirst := uint64((mib + biosBootSize) / SectorSize)
	rootFirst := espFirst + uint64(espSize/SectorSize)
	if rootFirst > rootLast || int64(rootLast-rootFirst+1)*SectorSize < minRootSize {
		return Layout{}, fmt.Errorf("disk size %d leaves less than %d MiB for the root partition after the %d MiB ESP", opts.Size, minRootSize/mib, espSize/mib)
	}
	d := deriver(opts.Seed)
	l := Layout{
		Size:     opts.Size,
		DiskGUID: d.guid("disk-guid"),
		Partitions: []Partition{
			{Number: 1, Name: "bios-boot", Type: TypeBIOSBoot, GUID: d.guid("partition-bios-boot"),
				FirstLBA: mib / SectorSize, LastLBA: espFirst - 1},
			{Number: 2, Name: "esp", Type: TypeESP, GUID: d.guid("partition-esp"),
				FirstLBA: espFirst, LastLBA: rootFirst - 1},
			{Number: 3, Name: "root", Type: TypeRootX86, GUID: d.guid("partition-root"),
				FirstLBA: rootFirst, LastLBA: rootLast},
		},
		Root: RootFS{
			UUID:     lower(d.guid("root-fs-uuid")),
			HashSeed: lower(d.guid("root-fs-hash-seed")),
			Label:    rootLabel,
			Compat:   compat,
		},
		ESP:  ESPFS{VolumeID: binary.BigEndian.Uint32(d.sum("esp-volume-id")), Label: espLabel},
		Time: opts.Time,
	}
	return l, nil
}

// deriver turns the seed into identifiers, one per purpose, so that changing
// how one is used never shifts another.
type deriver string

func (d deriver) sum(purpose string) []byte {
	h := sha256.New()
	h.Write([]byte("kiln disk identifiers v1\x00"))
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(d))
	return h.Sum(nil)
}

// guid makes an RFC 9562 version 8 (custom) UUID from the purpose's hash.
func (d deriver) guid(purpose string) string {
	b := d.sum(purpose)[:16]
	b[6] = b[6]&0x0F | 0x80
	b[8] = b[8]&0x3F | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
