package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BIOSBoot holds GRUB's i386-pc images, as grub-mkimage and grub-pc-bin make
// them.
type BIOSBoot struct {
	// BootImg is boot.img: 512 bytes, its first 440 go into the MBR.
	BootImg []byte
	// CoreImg is core.img (diskboot.img + kernel + modules); it is written
	// at the start of the BIOS boot partition.
	CoreImg []byte
}

// Offsets in GRUB's boot.img (include/grub/i386/pc/boot.h).
const (
	bootBPBStart     = 0x03
	bootBPBEnd       = 0x5A
	bootKernelSector = 0x5C // LBA of core.img's first sector, 64-bit LE
	bootDrive        = 0x64
	bootDriveCheck   = 0x66
	bootNTMagic      = 0x1B8 // disk signature, then the partition table
	bootPartEnd      = 0x1FE
)

// Offsets in core.img.
const (
	// blocklistSize is struct grub_boot_blocklist: start (u64), len (u16),
	// segment (u16); diskboot.img's blocklists run backwards from the end
	// of core.img's first sector.
	blocklistSize = 12
	// kernelSegment is where diskboot.img loads the rest of core.img
	// (GRUB_BOOT_I386_PC_KERNEL_SEG); the first sector is at 0x800:0, the
	// rest from 0x820:0.
	kernelSegment = 0x800
	// noRSLength is GRUB_KERNEL_I386_PC_NO_REED_SOLOMON_LENGTH, in the
	// second sector; 0xFFFF there marks a core.img grub-bios-setup refuses.
	noRSLength = 0x14
	// maxCoreSectors is what diskboot can load below 0x78000 from
	// GRUB_KERNEL_I386_PC_LINK_ADDR (0x9000): grub-bios-setup's cap.
	maxCoreSectors = (0x78000 - 0x9000) / SectorSize
)

// patchBIOSBoot returns the MBR boot code (bytes 0..439 of sector 0) and the
// core image to write at the BIOS boot partition's first sector, doing what
// `grub-bios-setup --no-rs-codes` does for a GPT disk whose BIOS boot
// partition starts at coreLBA:
//
//   - boot.img: the BPB area (0x03..0x59) takes the existing MBR's bytes,
//     which for kiln's fresh protective MBR are zeros; the kernel sector
//     field (0x5C) gets coreLBA; the boot drive (0x64) is 0xFF (use the
//     drive the BIOS passed); the 2-byte jump that skips the drive check
//     (0x66) becomes two NOPs, as for any hard disk. Bytes 0x1B8..0x1FF
//     stay the protective MBR's.
//   - core.img: every existing blocklist is cleared, then one entry says
//     the rest of core.img is the next len(core)/512-1 sectors after
//     coreLBA, loaded at segment 0x820; the entry before it stays zero as
//     the terminator. The image is padded with zeros to whole sectors.
//
// Reed-Solomon recovery codes (grub-bios-setup's default) are not added:
// they only help when something overwrites the embedded core.img.
func patchBIOSBoot(b BIOSBoot, coreLBA uint64, partSectors uint64) (mbrCode []byte, core []byte, err error) {
	if len(b.BootImg) != SectorSize {
		return nil, nil, fmt.Errorf("bios boot.img is %d bytes, want %d", len(b.BootImg), SectorSize)
	}
	if b.BootImg[510] != 0x55 || b.BootImg[511] != 0xAA {
		return nil, nil, errors.New("bios boot.img lacks the 0x55AA boot signature")
	}
	if len(b.CoreImg) < 2*SectorSize {
		return nil, nil, fmt.Errorf("bios core.img is %d bytes, too small to be GRUB's core.img", len(b.CoreImg))
	}
	sectors := (uint64(len(b.CoreImg)) + SectorSize - 1) / SectorSize
	if sectors > maxCoreSectors || sectors > partSectors {
		return nil, nil, fmt.Errorf("bios core.img is %d sectors, more than the %d GRUB can load from the BIOS boot partition", sectors, min(uint64(maxCoreSectors), partSectors))
	}
	le := binary.LittleEndian
	if le.Uint16(b.CoreImg[SectorSize+noRSLength:]) == 0xFFFF {
		return nil, nil, errors.New("bios core.img is from an incompatible GRUB version (no-Reed-Solomon length is 0xFFFF)")
	}

	mbr := make([]byte, bootNTMagic)
	copy(mbr, b.BootImg[:bootNTMagic])
	clear(mbr[bootBPBStart:bootBPBEnd])
	le.PutUint64(mbr[bootKernelSector:], coreLBA)
	mbr[bootDrive] = 0xFF
	mbr[bootDriveCheck], mbr[bootDriveCheck+1] = 0x90, 0x90

	core = make([]byte, sectors*SectorSize)
	copy(core, b.CoreImg)
	// Clear the old blocklists, last entry first, up to the terminator.
	first := SectorSize - blocklistSize
	at := first
	for le.Uint16(core[at+8:]) != 0 {
		clear(core[at : at+blocklistSize])
		at -= blocklistSize
		if at <= 0 {
			return nil, nil, errors.New("bios core.img has no blocklist terminator in its first sector")
		}
	}
	if sectors > 1 {
		le.PutUint64(core[first:], coreLBA+1)
		le.PutUint16(core[first+8:], uint16(sectors-1))
		le.PutUint16(core[first+10:], kernelSegment+(SectorSize>>4))
	}
	clear(core[first-blocklistSize : first])
	return mbr, core, nil
}
