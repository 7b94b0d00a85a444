// Command kiln-firstboot is the guest agent baked into every kiln image: on
// first boot it reads the node's metadata, prepares the host, then
// initializes or joins the cluster with kubeadm, reporting every step (see
// package firstboot/agent and docs/metadata.md).
//
//	kiln-firstboot                                  # as kiln-firstboot.service runs it
//	kiln-firstboot --dry-run --root /tmp/n1 --interface ens192 --metadata-file m1.yaml
//	kiln-firstboot renew-certs                      # as kiln-cert-renew.service runs it
//	kiln-firstboot renew-certs --dry-run --root /tmp/n1 --now 2027-11-20T03:00:00Z
//
// Flags:
//
//	--root DIR            the node's filesystem (default /; a dry run
//	                      needs one, and never /)
//	--platform NAME       where the metadata comes from (default: detect)
//	--metadata-file FILE  read the metadata from FILE (the file platform)
//	--interface NAME      the node's interface when the metadata names none
//	                      (default: the first Ethernet device under
//	                      ROOT/sys/class/net)
//	--dry-run             run nothing: print the plan and every command it
//	                      would run, and write every file under --root
//	--version             print the version
//
// Exit status 0 when the node is done, 1 when it failed (one line on
// standard error says why; the status channels say it too), 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/builder/buildinfo"
	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/platform/detect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: flags in, exit code out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "renew-certs" {
		return runRenew(ctx, args[1:], stdout, stderr)
	}
	fl := flag.NewFlagSet("kiln-firstboot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("root", "/", "the node's filesystem `DIR` (a dry run needs one, and never /)")
	iface := fl.String("interface", "", "the node's network interface `NAME` when the metadata names none (default: the first Ethernet device under ROOT/sys/class/net)")
	platformName := fl.String("platform", "", "metadata platform `NAME` (vmware, gce, nocloud, qemu, file; default: detect)")
	metadataFile := fl.String("metadata-file", "", "read the metadata from `FILE` (implies --platform file)")
	dryRun := fl.Bool("dry-run", false, "run nothing: print the plan and the commands, write the files under --root")
	version := fl.Bool("version", false, "print the version and exit")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "kiln-firstboot: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if *version {
		printVersion(stdout)
		return 0
	}
	if *platformName != "" && !slices.Contains(detect.Names(), *platformName) {
		fmt.Fprintf(stderr, "kiln-firstboot: --platform %q is not a platform (want one of %s)\n", *platformName, strings.Join(detect.Names(), ", "))
		return 2
	}
	if *metadataFile != "" && *platformName != "" && *platformName != "file" {
		fmt.Fprintf(stderr, "kiln-firstboot: --metadata-file reads a file; it cannot be used with --platform %s\n", *platformName)
		return 2
	}

	if *dryRun {
		if err := checkDryRunRoot(fl, *root); err != nil {
			fmt.Fprintf(stderr, "kiln-firstboot: %v\n", err)
			return 2
		}
	}

	level := slog.LevelInfo
	if *dryRun {
		level = slog.LevelWarn // the plan on standard output says it all
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	p, err := choosePlatform(ctx, *root, *platformName, *metadataFile)
	if err != nil {
		fmt.Fprintf(stderr, "kiln-firstboot: %v\n", err)
		return 1
	}
	opts := agent.Options{Root: *root, Platform: p, Log: log, DryRun: *dryRun, Interface: *iface}
	var plan *planPrinter
	if *dryRun {
		plan = &planPrinter{w: stdout}
		plan.use(&opts)
		fmt.Fprintf(stdout, "kiln-firstboot dry run: root %s, platform %s; nothing is run, files are written under the root\n", *root, p.Name())
	} else {
		// kiln-firstboot.service sends standard output to the serial
		// console and the journal: the KILN-STATUS lines go there.
		opts.Console = stdout
	}
	a, err := agent.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "kiln-firstboot: %v\n", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "kiln-firstboot: %s\n", oneLine(err))
		return 1
	}
	if plan != nil && plan.err != nil {
		fmt.Fprintf(stderr, "kiln-firstboot: writing the plan: %v\n", plan.err)
		return 1
	}
	return 0
}

// checkDryRunRoot refuses a dry run that would write into the machine it
// runs on: a dry run writes the node's files (host name, hosts, network,
// the CA keys of a control plane) under --root, whose default is /.
func checkDryRunRoot(fl *flag.FlagSet, root string) error {
	given := false
	fl.Visit(func(f *flag.Flag) { given = given || f.Name == "root" })
	const want = "give --root DIR, an empty directory will do"
	if !given {
		return fmt.Errorf("--dry-run writes the node's files under --root, and --root is / by default: %s", want)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	if abs == "/" || sameFile(abs, "/") {
		return fmt.Errorf("--dry-run would write the node's files into this machine (--root %s is /): %s", root, want)
	}
	return nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// oneLine joins a multi-line error (several metadata mistakes) into one.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "kiln-firstboot %s %s/%s %s\n", buildinfo.Version(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
