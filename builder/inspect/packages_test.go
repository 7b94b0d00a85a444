package inspect

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/disk"
	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest/el7"
)

// TestInspectCountsTheRPMDBOfRealCentOS7 installs real CentOS 7.9
// packages with their own rpm 4.11 (a Berkeley DB rpmdb), writes the tree
// to a disk and inspects it. The host's rpm reads that database with
// warnings on stderr ("Found bdb_ro Packages database...", "could not open
// .../Filetriggername"); inspect counted their words as packages.
func TestInspectCountsTheRPMDBOfRealCentOS7(t *testing.T) {
	reftest.Root(t)
	reftest.Tools(t, "rpm", "debugfs", "mke2fs", "e2fsck")
	var pkgs []install.Package
	for _, p := range el7.Closure(t, t.TempDir(), "rpm") {
		pkgs = append(pkgs, install.Package{NEVRA: p.NEVRA, Path: p.Path})
	}
	work := t.TempDir()
	root := filepath.Join(work, "root")
	rep, err := install.Install(context.Background(), install.Options{Root: root, Tools: filepath.Join(work, "tools"), Packages: pkgs})
	if err != nil {
		t.Fatal(err)
	}
	l, err := disk.Plan(disk.Options{Size: 1 << 30, Seed: "inspect-el7", Time: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "disk.raw")
	if err := disk.Write(context.Background(), img, l, disk.Contents{RootTree: root}); err != nil {
		t.Fatal(err)
	}
	r, err := Image(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(r.Packages, "\n"), strings.Join(rep.Installed, "\n"); got != want {
		t.Errorf("inspect lists %d packages, the image's own rpm %d:\n%s\nwant\n%s", len(r.Packages), len(rep.Installed), got, want)
	}
	// The real filesystem package declares / 0555; the image keeps it
	// (mke2fs -d left it 0755, which rpm -Va flags).
	fs := debugfsTarget{image: img, offset: l.RootPartition().Offset()}
	if st, err := fs.run(context.Background(), "stat /"); err != nil || !strings.Contains(string(st), "Mode:  0555") {
		t.Errorf("debugfs stat / in the image: %v\n%s", err, st)
	}
	if out, err := exec.Command("e2fsck", "-fn", img+"?offset="+strconv.FormatInt(l.RootPartition().Offset(), 10)).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}

func TestParsePackagesKeepsOnlyMarkedLines(t *testing.T) {
	out := pkgMarker + "bash-4.2.46-34.el7.x86_64\n" +
		"warning: Found bdb_ro Packages database while attempting sqlite backend: using bdb_ro backend.\n" +
		pkgMarker + "gpg-pubkey-f4a80eb5-53a7ff4b\n" +
		pkgMarker + "openssl-libs-1:1.0.2k-26.el7_9.x86_64\n"
	got := strings.Join(parsePackages([]byte(out)), " ")
	if want := "bash-4.2.46-34.el7.x86_64 openssl-libs-1:1.0.2k-26.el7_9.x86_64"; got != want {
		t.Errorf("parsePackages() = %q, want %q", got, want)
	}
}
