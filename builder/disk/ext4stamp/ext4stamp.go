// Package ext4stamp pins the inode timestamps of a freshly made ext4
// filesystem so that it does not depend on when its source tree was written.
//
// `mke2fs -d` copies atime, mtime and ctime from the source files, and a
// file's ctime cannot be set from user space: a tree filled by an RPM
// transaction carries the wall-clock time of the install in every inode.
// E2FSPROGS_FAKE_TIME pins only what mke2fs invents (superblock times,
// crtime). Pin rewrites, in every in-use inode from the first non-reserved
// one on (and the root directory), atime, ctime and crtime to the given time
// and clamps mtime to it (as tar --clamp-mtime does), dropping nanoseconds,
// then recomputes the inode checksum when metadata_csum is on. The inode set
// comes from the inode bitmaps, so nothing but timestamps and checksums
// changes.
//
// Example:
//
//	n, err := ext4stamp.Pin(ctx, f, rootOffset, time.Unix(sourceDateEpoch, 0))
package ext4stamp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// ReadWriterAt is the image the filesystem lives in.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

const (
	superblockOffset = 1024
	magic            = 0xEF53
	rootIno          = 2

	incompat64bit    = 0x80
	incompatCsumSeed = 0x2000
	roCompatCsum     = 0x400
	bgInodeUninit    = 0x1
	goodOldInodeSize = 128
)

// Inode field offsets (ext4 on-disk layout).
const (
	iAtime      = 0x08
	iCtime      = 0x0C
	iMtime      = 0x10
	iLinks      = 0x1A
	iGeneration = 0x64
	iCsumLo     = 0x7C
	iExtraIsize = 0x80
	iCsumHi     = 0x82
	iCtimeExtra = 0x84
	iMtimeExtra = 0x88
	iAtimeExtra = 0x8C
	iCrtime     = 0x90
	iCrtimeExtr = 0x94
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is ext4's checksum: CRC-32C without the final inversion, chained
// from seed.
func crc32c(seed uint32, b []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, b)
}

type superblock struct {
	blockSize      int64
	firstDataBlock int64
	inodesPerGroup uint32
	inodeSize      int64
	firstIno       uint32
	groups         uint32
	descSize       int64
	csum           bool
	csumSeed       uint32
}

func readSuperblock(r io.ReaderAt, off int64) (superblock, error) {
	b := make([]byte, 1024)
	if _, err := r.ReadAt(b, off+superblockOffset); err != nil {
		return superblock{}, fmt.Errorf("reading ext4 superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != magic {
		return superblock{}, errors.New("reading ext4 superblock: bad magic, not an ext2/3/4 filesystem")
	}
	logBlock := le.Uint32(b[0x18:])
	if logBlock > 6 {
		return superblock{}, fmt.Errorf("reading ext4 superblock: block size 2^%d KiB is out of range", logBlock)
	}
	sb := superblock{
		blockSize:      1024 << logBlock,
		firstDataBlock: int64(le.Uint32(b[0x14:])),
		inodesPerGroup: le.Uint32(b[0x28:]),
		inodeSize:      int64(le.Uint16(b[0x58:])),
		firstIno:       le.Uint32(b[0x54:]),
		descSize:       32,
	}
	if le.Uint32(b[0x4C:]) == 0 { // revision 0: fixed inode size and first inode
		sb.inodeSize, sb.firstIno = goodOldInodeSize, 11
	}
	inodes := le.Uint32(b[0x00:])
	if sb.inodesPerGroup == 0 || sb.inodeSize < goodOldInodeSize || sb.inodeSize > sb.blockSize || inodes%sb.inodesPerGroup != 0 {
		return superblock{}, errors.New("reading ext4 superblock: inconsistent inode geometry")
	}
	sb.groups = inodes / sb.inodesPerGroup
	incompat, roCompat := le.Uint32(b[0x60:]), le.Uint32(b[0x64:])
	if incompat&incompat64bit != 0 {
		sb.descSize = int64(le.Uint16(b[0xFE:]))
		if sb.descSize < 64 || sb.descSize > sb.blockSize {
			return superblock{}, fmt.Errorf("reading ext4 superblock: group descriptor size %d is invalid", sb.descSize)
		}
	}
	if roCompat&roCompatCsum != 0 {
		sb.csum = true
		if incompat&incompatCsumSeed != 0 {
			sb.csumSeed = le.Uint32(b[0x270:])
		} else {
			sb.csumSeed = crc32c(^uint32(0), b[0x68:0x78])
		}
	}
	return sb, nil
}

// Pin sets the timestamps of the ext4 filesystem that starts at byte off of
// rw, as the package comment describes, and returns how many inodes it
// rewrote.
func Pin(ctx context.Context, rw ReadWriterAt, off int64, t time.Time) (int, error) {
	sb, err := readSuperblock(rw, off)
	if err != nil {
		return 0, err
	}
	gdt := make([]byte, int64(sb.groups)*sb.descSize)
	if _, err := rw.ReadAt(gdt, off+(sb.firstDataBlock+1)*sb.blockSize); err != nil {
		return 0, fmt.Errorf("reading ext4 group descriptors: %w", err)
	}
	le := binary.LittleEndian
	lo, epoch := encodeTime(t.Unix())
	bitmap := make([]byte, sb.blockSize)
	table := make([]byte, int64(sb.inodesPerGroup)*sb.inodeSize)
	changed := 0
	for g := range sb.groups {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		d := gdt[int64(g)*sb.descSize:][:sb.descSize]
		if le.Uint16(d[0x12:])&bgInodeUninit != 0 {
			continue // no inode of this group is in use
		}
		bitmapBlock, tableBlock := int64(le.Uint32(d[0x04:])), int64(le.Uint32(d[0x08:]))
		if sb.descSize >= 64 {
			bitmapBlock |= int64(le.Uint32(d[0x24:])) << 32
			tableBlock |= int64(le.Uint32(d[0x28:])) << 32
		}
		if _, err := rw.ReadAt(bitmap, off+bitmapBlock*sb.blockSize); err != nil {
			return changed, fmt.Errorf("reading ext4 inode bitmap of group %d: %w", g, err)
		}
		if _, err := rw.ReadAt(table, off+tableBlock*sb.blockSize); err != nil {
			return changed, fmt.Errorf("reading ext4 inode table of group %d: %w", g, err)
		}
		for i := range sb.inodesPerGroup {
			if bitmap[i/8]&(1<<(i%8)) == 0 {
				continue
			}
			ino := g*sb.inodesPerGroup + i + 1
			if ino < sb.firstIno && ino != rootIno {
				continue
			}
			inode := table[int64(i)*sb.inodeSize:][:sb.inodeSize]
			if le.Uint16(inode[iLinks:]) == 0 {
				continue
			}
			stampInode(inode, lo, epoch, t.Unix())
			if sb.csum {
				setChecksum(inode, sb.csumSeed, ino)
			}
			if _, err := rw.WriteAt(inode, off+tableBlock*sb.blockSize+int64(i)*sb.inodeSize); err != nil {
				return changed, fmt.Errorf("writing ext4 inode %d: %w", ino, err)
			}
			changed++
		}
	}
	return changed, nil
}

// encodeTime splits seconds into ext4's signed 32-bit field and the two
// epoch bits kept in the *_extra field.
func encodeTime(sec int64) (lo uint32, epoch uint32) {
	lo = uint32(sec)
	return lo, uint32((sec-int64(int32(lo)))>>32) & 3
}

func decodeTime(lo, extra uint32) int64 {
	return int64(int32(lo)) + int64(extra&3)<<32
}

func stampInode(inode []byte, lo, epoch uint32, sec int64) {
	le := binary.LittleEndian
	extraSize := 0
	if len(inode) > goodOldInodeSize {
		extraSize = int(le.Uint16(inode[iExtraIsize:]))
	}
	has := func(field int) bool { return field+4 <= goodOldInodeSize+extraSize && field+4 <= len(inode) }
	mtime := int64(int32(le.Uint32(inode[iMtime:])))
	if has(iMtimeExtra) {
		mtime = decodeTime(le.Uint32(inode[iMtime:]), le.Uint32(inode[iMtimeExtra:]))
	}
	le.PutUint32(inode[iAtime:], lo)
	le.PutUint32(inode[iCtime:], lo)
	if mtime > sec {
		le.PutUint32(inode[iMtime:], lo)
		if has(iMtimeExtra) {
			le.PutUint32(inode[iMtimeExtra:], epoch)
		}
	} else if has(iMtimeExtra) {
		// Keep mtime's seconds and epoch, drop its nanoseconds.
		le.PutUint32(inode[iMtimeExtra:], le.Uint32(inode[iMtimeExtra:])&3)
	}
	for _, f := range []int{iCtimeExtra, iAtimeExtra, iCrtimeExtr} {
		if has(f) {
			le.PutUint32(inode[f:], epoch)
		}
	}
	if has(iCrtime) {
		le.PutUint32(inode[iCrtime:], lo)
	}
}

// setChecksum recomputes an inode's metadata_csum checksum: CRC-32C of the
// inode number, its generation and the inode with the checksum fields
// zeroed, seeded from the filesystem.
func setChecksum(inode []byte, seed, ino uint32) {
	le := binary.LittleEndian
	hasHi := len(inode) > goodOldInodeSize && goodOldInodeSize+int(le.Uint16(inode[iExtraIsize:])) >= iCsumHi+2
	le.PutUint16(inode[iCsumLo:], 0)
	if hasHi {
		le.PutUint16(inode[iCsumHi:], 0)
	}
	var n [4]byte
	le.PutUint32(n[:], ino)
	c := crc32c(seed, n[:])
	c = crc32c(c, inode[iGeneration:iGeneration+4])
	c = crc32c(c, inode)
	le.PutUint16(inode[iCsumLo:], uint16(c))
	if hasHi {
		le.PutUint16(inode[iCsumHi:], uint16(c>>16))
	}
}
