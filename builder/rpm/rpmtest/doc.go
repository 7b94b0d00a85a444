<<<<<<< HEAD
// Package rpmtest is kiln's test kit for RPM repositories: it builds signed
// (V3 or V4), unsigned and deliberately broken fixture RPMs from a small
// declarative Package, and makes throwaway OpenPGP keys.
//
//	key := rpmtest.TestKey(t, "kiln")
//	pkg := rpmtest.Package{Name: "hello", Version: "1.0",
//		Files: []rpmtest.File{{Path: "/usr/bin/hello", Mode: 0o755, Content: "#!/bin/sh\n"}}}
//	b, err := pkg.Build(rpmtest.Options{Key: key})
=======
// Package rpmtest is kiln's test kit for RPM repositories: it writes
// repodata for a list of packages (WriteRepo), generates realistic
// synthetic distributions for solver tests and benchmarks
// (GenerateDistro), and serves repositories over HTTP with fault
// injection (NewServer). Tests of every stage that reads repositories
// share it.
//
//	pkgs := rpmtest.GenerateDistro(1, 500)
//	if err := rpmtest.WriteRepo(dir, pkgs, rpmtest.RepoOptions{Compression: "zst"}); err != nil {
//		t.Fatal(err)
//	}
//	srv := rpmtest.NewServer(t, map[string]string{"base": dir})
//	baseURL := srv.URL("base")
>>>>>>> repodata
package rpmtest
