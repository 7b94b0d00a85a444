// Package nocloud reads a node's metadata from a NoCloud-style volume: a
// small ISO 9660 or FAT filesystem labelled cidata (or CIDATA) attached to
// the VM, holding kiln.yaml in its root directory. It is how kiln feeds
// metadata on hypervisors without a metadata service, and what cloud-init
// users already know how to make:
//
//	genisoimage -output seed.iso -volid cidata -joliet -rock kiln.yaml
//	mkfs.vfat -C -n CIDATA seed.img 2048 && mcopy -i seed.img kiln.yaml ::kiln.yaml
//
// The volume is found through udev's /dev/disk/by-label links or, when udev
// has not run, by probing the block devices listed in /sys/class/block. The
// filesystem is read directly from the device, without mounting, by two
// small readers (ReadFile, VolumeLabel) that only know what this needs: the
// root directory of ISO 9660 (with Rock Ridge and Joliet names) and FAT12,
// FAT16 and FAT32 (with VFAT long names).
//
//	p := nocloud.New(nocloud.Options{})
//	md, err := p.Metadata(ctx)
package nocloud
