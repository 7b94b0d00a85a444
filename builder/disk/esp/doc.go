// Package esp writes a FAT32 filesystem (an EFI System Partition) from a file
// tree, reproducibly: the volume ID and every timestamp come from the caller,
// directories and files are laid out in lexical order in contiguous clusters,
// and only non-zero structures are written so the image stays sparse.
//
// kiln writes its own FAT32 rather than use go-diskfs's: go-diskfs v1.9.x
// sizes the FAT too small for its cluster count (fsck.vfat: "Filesystem has
// 129024 clusters but only space for 129022 FAT entries"), and v1.8.0 takes
// timestamps only from the process-wide SOURCE_DATE_EPOCH variable and offers
// no way to set the volume ID.
//
// Example:
//
//	err := esp.Write(ctx, f, 2<<20, 200<<20, os.DirFS("build/esp"), esp.Options{
//		Label:    "ESP",
//		VolumeID: 0x1234abcd,
//		Time:     time.Unix(1700000000, 0),
//	})
package esp
