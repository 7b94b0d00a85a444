// Package fetch downloads the packages a lock names into a
// content-addressed cache (CACHE/packages/sha256/<hex>.rpm), several at a
// time and mirror by mirror, and verifies each before it is stored: size
// and checksum from repodata, the header's SHA-256/SHA-1 digests, the
// payload digest (or, for pre-4.14 packages, the MD5), and the OpenPGP
// signatures (V4, and the V3 RSA signatures of CentOS 7 packages) when the
// repository has gpgcheck on. VerifyFile applies the same checks to a file
// on disk, for the build stage.
//
//	res, err := fetch.Fetch(ctx, []fetch.Item{{Package: pkg, BaseURLs: src.BaseURLs,
//		Keys: src.Keys, GPGCheck: src.GPGCheck}}, fetch.Options{CacheDir: cache})
package fetch
