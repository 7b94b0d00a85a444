// Package rpmtest is kiln's test kit for RPM repositories: it builds signed
// (V3 or V4), unsigned and deliberately broken fixture RPMs from a small
// declarative Package, and makes throwaway OpenPGP keys.
//
//	key := rpmtest.TestKey(t, "kiln")
//	pkg := rpmtest.Package{Name: "hello", Version: "1.0",
//		Files: []rpmtest.File{{Path: "/usr/bin/hello", Mode: 0o755, Content: "#!/bin/sh\n"}}}
//	b, err := pkg.Build(rpmtest.Options{Key: key})
package rpmtest
