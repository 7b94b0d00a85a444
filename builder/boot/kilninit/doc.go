// Package kilninit is the logic of kiln-init, the small static init kiln
// puts in every image's initramfs instead of dracut: it loads the storage
// and filesystem drivers listed at build time, finds the root filesystem by
// UUID, grows the root partition and filesystem when the disk is larger
// than the image was built for (a clone given more space), mounts root and
// switches to it.
//
// Everything that touches devices goes through small functions that take a
// root directory or an io.ReaderAt, so tests run on files:
//
//	args := kilninit.ParseCmdline("root=UUID=0b6e... ro console=ttyS0")
//	fmt.Println(args.Root) // UUID=0b6e...
package kilninit
