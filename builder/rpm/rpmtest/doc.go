// Package rpmtest is kiln's test kit for RPM repositories, shared by the
// tests of every stage that reads packages or repositories:
//
//   - Package builds signed (V4 or CentOS 7's V3), unsigned and
//     deliberately broken fixture RPMs from a declarative description;
//     TestKey makes throwaway OpenPGP keys.
//
//   - WriteRepo writes repodata for a list of packages; GenerateDistro makes
//     realistic synthetic distributions for solver tests and benchmarks.
//
//   - NewServer serves repositories over HTTP with fault injection.
//
//   - HostDistro packs the build host's rpm, busybox and grub-mkimage into
//     the smallest distribution kiln can install and make bootable.
//
//     key := rpmtest.TestKey(t, "kiln")
//     pkg := rpmtest.Package{Name: "hello", Version: "1.0",
//     Files: []rpmtest.File{{Path: "/usr/bin/hello", Mode: 0o755, Content: "#!/bin/sh\n"}}}
//     b, err := pkg.Build(rpmtest.Options{Key: key})
//     ...
//     err = rpmtest.WriteRepo(dir, []*repo.Package{pkg.RepoPackage(b)}, rpmtest.RepoOptions{Compression: "zst"})
//     srv := rpmtest.NewServer(t, map[string]string{"base": dir})
package rpmtest
