// Command k8simages builds, without a registry, every container image a
// kubeadm cluster with kiln's load balancer and flannel runs, as
// docker-archive tarballs for a kiln profile's `images:` (see package
// clusterimages for what goes into each).
//
//	go run ./test/tools/k8simages -kube /var/cache/kiln-tools/k8s-v1.34.4-etcd-v3.6.5/kube \
//	    -addons ADDONS -debian-root DEBIAN_ROOT -out build/cluster-images \
//	    -kubeadm build/tools/kubeadm-v1.34.4
//
// It prints one line per image (reference, digest, compressed size) and
// writes OUT/index.txt. Timestamps come from SOURCE_DATE_EPOCH, or are the
// Unix epoch.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/test/clusterimages"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		fmt.Fprintln(os.Stderr, "k8simages:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, epoch string) error {
	fs := flag.NewFlagSet("k8simages", flag.ContinueOnError)
	var in clusterimages.Inputs
	fs.StringVar(&in.Kube, "kube", "", "the multi-call kube binary (kube-apiserver, etcd... by argv[0])")
	fs.StringVar(&in.Addons, "addons", "", "directory of static binaries: coredns, pause, flanneld, install-conf, flannel")
	fs.StringVar(&in.DebianRoot, "debian-root", "", "installed Debian 12 tree with iptables, conntrack, busybox, haproxy, keepalived, curl, iproute2")
	out := fs.String("out", "", "output directory")
	version := fs.String("kubernetes-version", "v1.34.4", "Kubernetes version whose kubeadm images to build")
	kubeadm := fs.String("kubeadm", "", "kubeadm binary to ask for its image list (default: the list recorded for -kubernetes-version)")
	arch := fs.String("arch", runtime.GOARCH, "architecture of the binaries and the Debian tree")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, f := range []struct{ name, v string }{{"kube", in.Kube}, {"addons", in.Addons}, {"debian-root", in.DebianRoot}, {"out", *out}} {
		if f.v == "" {
			return fmt.Errorf("-%s is required", f.name)
		}
	}
	var err error
	if in.Created, err = sourceDateEpoch(epoch); err != nil {
		return err
	}
	if *kubeadm != "" {
		in.KubeadmImages, err = clusterimages.KubeadmImages(ctx, *kubeadm, *version)
	} else {
		in.KubeadmImages, err = clusterimages.KnownKubeadmImages(*version)
	}
	if err != nil {
		return err
	}
	in.Platform = v1.Platform{OS: "linux", Architecture: *arch}
	results, err := clusterimages.Build(ctx, in, *out)
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "%s %s %d\n", r.Ref, r.Digest, r.Size)
	}
	return nil
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH (v), read once by main; unset
// means the Unix epoch.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
