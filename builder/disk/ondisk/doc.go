// Package ondisk reads back the structures kiln writes onto a disk: the
// GPT (header and partition entries, checksums verified) and the identity
// of an ext4 filesystem (UUID, block size, blocks). kiln-init uses it to
// find and grow the root on first boot and kiln inspect to describe an
// image; builder/disk writes what it reads. It imports nothing but the
// standard library, so kiln-init stays small.
//
//	h, err := ondisk.ReadGPT(img) // 512- or 4096-byte sectors
//	entries, err := h.ReadEntries(img)
//	for _, p := range h.Partitions(entries) {
//		fmt.Println(p.Number, p.Name, p.Start(h.SectorSize))
//	}
package ondisk
