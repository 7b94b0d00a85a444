// Package rpmtest is kiln's test kit for RPM repositories. It builds
// signed (V3 or V4), unsigned and deliberately broken fixture RPMs from a
// small declarative Package and makes throwaway OpenPGP keys; it writes
// repodata for a list of packages (WriteRepo), generates realistic
// synthetic distributions for solver tests and benchmarks
// (GenerateDistro), and serves repositories over HTTP with fault
// injection (NewServer). Tests of every stage that reads packages or
// repositories share it.
//
//	key := rpmtest.TestKey(t, "kiln")
//	pkg := rpmtest.Package{Name: "hello", Version: "1.0",
//		Files: []rpmtest.File{{Path: "/usr/bin/hello", Mode: 0o755, Content: "#!/bin/sh\n"}}}
//	b, err := pkg.Build(rpmtest.Options{Key: key})
//
//	pkgs := rpmtest.GenerateDistro(1, 500)
//	if err := rpmtest.WriteRepo(dir, pkgs, rpmtest.RepoOptions{Compression: "zst", SignWith: key.Entity}); err != nil {
//		t.Fatal(err)
//	}
//	srv := rpmtest.NewServer(t, map[string]string{"base": dir})
//	baseURL := srv.URL("base")
package rpmtest
