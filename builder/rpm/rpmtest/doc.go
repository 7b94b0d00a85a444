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
package rpmtest
