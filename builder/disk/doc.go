// Package disk assembles kiln's raw disk image: a GPT disk with a BIOS boot
// partition (GRUB's core.img), a FAT32 EFI System Partition and an ext4 root
// partition, last so that it can grow on first boot.
//
// It works in two steps so that later stages know every identifier before
// the trees are final: Plan derives the layout, the disk and partition
// GUIDs, the root filesystem UUID and hash seed and the ESP volume ID from
// the lock digest alone; Write then writes the image. The same Layout and
// trees always give the same bytes: the root filesystem is made by
// `mke2fs -d` with a pinned configuration, clock (E2FSPROGS_FAKE_TIME),
// UUID and hash seed, and its inode times are then pinned by ext4stamp;
// the ESP is written by package esp; the partition table by go-diskfs.
//
// Example:
//
//	l, err := disk.Plan(disk.Options{Size: 4 << 30, Seed: lockDigest, Time: epoch})
//	// ... write l.Root.UUID and l.ESP.UUID() into fstab and grub.cfg ...
//	err = disk.Write(ctx, "build/disk.raw", l, disk.Contents{
//		RootTree: "build/root",
//		ESP:      os.DirFS("build/esp"),
//		BIOS:     &disk.BIOSBoot{BootImg: bootImg, CoreImg: coreImg},
//	})
package disk
