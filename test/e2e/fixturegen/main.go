// Command fixturegen builds the boot test's fixture repository (see
// package fixture): `make e2e-fixture` runs it, and with -kube (a fixture
// whose Kubernetes is real) `make e2e-cluster`.
//
//	go run ./test/e2e/fixturegen -dir build/e2e-fixture
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/test/e2e/fixture"
)

func main() {
	dir := flag.String("dir", "build/e2e-fixture", "where the repository, key and cache go")
	mirror := flag.String("mirror", "", "Debian mirror (default: the host's apt source, or deb.debian.org)")
	kube := flag.String("kube", "", "a real fixture: the multi-call Kubernetes binary (test/tools/k8s/build.sh)")
	kver := flag.String("kubernetes-version", "", "with -kube: the version it was built as (vX.Y.Z)")
	cni := flag.String("cni", "", "with -kube: the directory with the CNI plugins bridge, host-local, loopback, portmap")
	cniVersion := flag.String("cni-version", "", "with -kube: the CNI plugins' release (X.Y.Z)")
	flag.Parse()
	var real *fixture.Real
	if *kube != "" {
		if *kver == "" || *cni == "" || *cniVersion == "" {
			fmt.Fprintln(os.Stderr, "fixturegen: -kube needs -kubernetes-version, -cni and -cni-version")
			os.Exit(2)
		}
		real = &fixture.Real{Kube: *kube, Version: *kver, CNI: *cni, CNIVersion: *cniVersion}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
	start := time.Now()
	res, err := fixture.Build(ctx, fixture.Options{Dir: *dir, Mirror: *mirror, Log: os.Stderr, Real: real})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(os.Stderr, "fixturegen: warning:", w)
	}
	state := "built"
	if res.Cached {
		state = "cached"
	}
	fmt.Fprintf(os.Stderr, "fixturegen: %s %d packages in %s (%s), key %s\n", state, len(res.Packages), res.Repo, time.Since(start).Round(time.Second), res.Key)
}
