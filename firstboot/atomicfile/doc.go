// Package atomicfile writes a file so that whoever reads its path sees the
// old contents or the new, never a part: the bytes go to a temporary file
// in the same directory, which gets its mode (before any byte, so a key is
// never readable by others), owner and time, is synced, and is renamed over
// the path only when everything succeeded. On failure nothing is left
// behind.
//
// kiln writes this way everywhere a file is an output or a cache entry:
// images, lock files, cluster bundles and kubeconfigs, verified packages,
// files in an image tree, files the agent writes on a node.
//
//	f, err := atomicfile.Create("out/node.qcow2", atomicfile.Options{Mode: 0o644})
//	if err != nil {
//		return err
//	}
//	defer f.Close() // removes the temporary file unless committed
//	if err := enc.Encode(ctx, f, disk, size); err != nil {
//		return err
//	}
//	return f.Commit()
package atomicfile
