package disk

import (
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"io/fs"
	"os"
	"os/exec"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/kiln-build/kiln/builder/disk/esp"
	"github.com/kiln-build/kiln/builder/disk/ext4stamp"
)

// Contents are the trees that go into the disk.
type Contents struct {
	// RootTree is the host directory that becomes the root filesystem
	// (owners, modes, hardlinks, device nodes and xattrs are kept).
	RootTree string
	// ESP is the tree of the EFI System Partition (EFI/BOOT/BOOTX64.EFI...);
	// nil leaves the ESP an empty FAT32 filesystem.
	ESP fs.FS
	// BIOS, when set, makes the disk BIOS-bootable with GRUB.
	BIOS *BIOSBoot
	// Mke2fs is the mke2fs binary; empty means "mke2fs" from PATH.
	Mke2fs string
}

// Write writes the raw disk image described by l to path: a sparse file,
// written under a temporary name in the same directory and renamed into
// place only when complete.
func Write(ctx context.Context, path string, l Layout, c Contents) (err error) {
	if len(l.Partitions) != 3 {
		return errors.New("disk layout has no partitions (make it with Plan)")
	}
	if info, err := os.Stat(c.RootTree); err != nil || !info.IsDir() {
		return fmt.Errorf("root tree %q is not a directory", c.RootTree)
	}
	mke2fs := c.Mke2fs
	if mke2fs == "" {
		mke2fs = "mke2fs"
	}
	mke2fs, err = exec.LookPath(mke2fs)
	if err != nil {
		return fmt.Errorf("finding mke2fs: %w", err)
	}
	var mbrCode, core []byte
	if c.BIOS != nil {
		bb := l.BIOSBoot()
		mbrCode, core, err = patchBIOSBoot(*c.BIOS, bb.FirstLBA, bb.LastLBA-bb.FirstLBA+1)
		if err != nil {
			return err
		}
	}

	f, err := atomicfile.Create(path, atomicfile.Options{Mode: 0o644})
	if err != nil {
		return fmt.Errorf("creating disk image: %w", err)
	}
	defer f.Close() // removes the temporary file unless committed
	tmp := f.Name()
	if err := f.Truncate(l.Size); err != nil {
		return fmt.Errorf("sizing disk image: %w", err)
	}

	if err := runMke2fs(ctx, mke2fs, l, c.RootTree, tmp); err != nil {
		return err
	}
	root := l.RootPartition()
	if _, err := ext4stamp.Pin(ctx, f, root.Offset(), l.Time); err != nil {
		return fmt.Errorf("pinning root filesystem timestamps: %w", err)
	}

	espPart := l.ESPPartition()
	err = esp.Write(ctx, f, espPart.Offset(), espPart.Size(), c.ESP, esp.Options{
		Label:         l.ESP.Label,
		VolumeID:      l.ESP.VolumeID,
		Time:          l.Time,
		HiddenSectors: uint32(espPart.FirstLBA),
	})
	if err != nil {
		return fmt.Errorf("writing esp: %w", err)
	}

	if err := writeGPT(f.File, l); err != nil {
		return err
	}
	if c.BIOS != nil {
		if _, err := f.WriteAt(core, l.BIOSBoot().Offset()); err != nil {
			return fmt.Errorf("writing bios core.img: %w", err)
		}
		if _, err := f.WriteAt(mbrCode, 0); err != nil {
			return fmt.Errorf("writing bios boot code: %w", err)
		}
	}

	if err := f.Commit(); err != nil {
		return err
	}
	return nil
}

// writeGPT writes the protective MBR's partition table, both GPT headers and
// both partition arrays with go-diskfs; bytes 0..445 of the MBR (boot code)
// are left alone.
func writeGPT(f *os.File, l Layout) error {
	t := &gpt.Table{
		LogicalSectorSize:  SectorSize,
		PhysicalSectorSize: SectorSize,
		ProtectiveMBR:      true,
		GUID:               l.DiskGUID,
	}
	for _, p := range l.Partitions {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index: p.Number,
			Start: p.FirstLBA,
			End:   p.LastLBA,
			Size:  uint64(p.Size()),
			Type:  gpt.Type(p.Type),
			Name:  p.Name,
			GUID:  p.GUID,
		})
	}
	if err := t.Write(f, l.Size); err != nil {
		return fmt.Errorf("writing partition table: %w", err)
	}
	return nil
}
