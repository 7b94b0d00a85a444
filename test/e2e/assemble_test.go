//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/boot"
	"github.com/kiln-build/kiln/builder/chroot"
	"github.com/kiln-build/kiln/builder/customize"
	"github.com/kiln-build/kiln/builder/disk"
	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/spec"
)

// assembled is an image the test put together from kiln's stages.
type assembled struct {
	Raw      string
	QCOW2    string // "" when only raw was made
	RootUUID string
	Kernel   string
}

// assembleImage builds a raw image from every package of the fixture
// repository with kiln's own stages (install, customize, boot, disk), as
// `kiln build` strings them together: the integration test of those
// stages on a real distribution.
func assembleImage(t *testing.T, ctx context.Context, profilePath, repo string, bins binaries, out string) assembled {
	t.Helper()
	prof, err := spec.Load(profilePath, spec.LoadOptions{})
	if err != nil {
		t.Fatalf("loading %s: %v", profilePath, err)
	}
	rpms, err := filepath.Glob(filepath.Join(repo, "Packages", "*.rpm"))
	if err != nil || len(rpms) == 0 {
		t.Fatalf("no packages in %s: %v", repo, err)
	}
	sort.Strings(rpms)
	var pkgs []install.Package
	for _, p := range rpms {
		pkgs = append(pkgs, install.Package{NEVRA: nevraOf(t, p), Path: p})
	}
	work := filepath.Join(out, "work")
	os.RemoveAll(work)
	root := filepath.Join(work, "root")
	var log bytes.Buffer
	start := time.Now()
	rep, err := install.Install(ctx, install.Options{Root: root, Tools: filepath.Join(work, "tools"), Packages: pkgs, Log: &log})
	if err != nil {
		t.Fatalf("install: %v\n%s", err, tail(log.String(), 40))
	}
	t.Logf("installed %d packages (tools tree: %d) in %s", len(rep.Installed), len(rep.Tools), time.Since(start).Round(time.Second))
	if err := install.UnmaskKernelInstall(root); err != nil {
		t.Fatal(err)
	}

	when := time.Date(2025, 5, 20, 0, 0, 0, 0, time.UTC)
	layout, err := disk.Plan(disk.Options{Size: int64(prof.Disk.Size), Seed: "kiln-e2e-fixture", Time: when})
	if err != nil {
		t.Fatal(err)
	}
	// chroot.Run mounts a fresh tmpfs on /tmp, which hides the files
	// boot.MakeGrubImages puts in the tree's /tmp for grub-mkimage; that
	// one runs under plain chroot(8), which needs no API filesystems.
	run := func(ctx context.Context, argv []string) error {
		if strings.HasSuffix(argv[0], "grub-mkimage") || strings.HasSuffix(argv[0], "grub2-mkimage") {
			cmd := exec.CommandContext(ctx, "chroot", append([]string{root}, argv...)...)
			cmd.Stdout, cmd.Stderr = &log, &log
			return cmd.Run()
		}
		return chroot.Run(ctx, chroot.Spec{Root: root}, argv, &log, &log)
	}
	start = time.Now()
	if err := customize.Apply(ctx, customize.Options{Root: root, Profile: prof, RootUUID: layout.Root.UUID,
		ESPUUID: layout.ESP.UUID(), Firstboot: bins.Firstboot, ModTime: when, Run: run}); err != nil {
		t.Fatalf("customize: %v\n%s", err, tail(log.String(), 40))
	}
	scratch := filepath.Join(work, "grub")
	os.MkdirAll(scratch, 0o755)
	br, err := boot.Prepare(ctx, boot.Options{Root: root, Title: prof.Name, RootUUID: layout.Root.UUID, Cmdline: prof.KernelCmdline,
		Firmware: "hybrid", KilnInit: bins.Init, ModTime: when, Run: run, ScratchDir: scratch})
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, tail(log.String(), 40))
	}
	t.Logf("customized and made bootable (kernel %s, initramfs modules %v, missing %v) in %s", br.Kernel.Version, br.Initrd.Modules, br.Initrd.Missing, time.Since(start).Round(time.Second))

	espDir := filepath.Join(work, "esp")
	if err := os.MkdirAll(filepath.Join(espDir, "EFI/BOOT"), 0o755); err != nil {
		t.Fatal(err)
	}
	efi, err := os.ReadFile(br.EFI)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(espDir, "EFI/BOOT/BOOTX64.EFI"), efi, 0o644)
	core, err := os.ReadFile(br.CoreImg)
	if err != nil {
		t.Fatal(err)
	}
	bootImg, err := os.ReadFile(br.BootImg)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(out, prof.Name+".raw")
	start = time.Now()
	if err := disk.Write(ctx, raw, layout, disk.Contents{RootTree: root, ESP: os.DirFS(espDir), BIOS: &disk.BIOSBoot{BootImg: bootImg, CoreImg: core}}); err != nil {
		t.Fatalf("disk: %v", err)
	}
	t.Logf("wrote %s in %s", raw, time.Since(start).Round(time.Second))
	os.RemoveAll(work)
	return assembled{Raw: raw, RootUUID: layout.Root.UUID, Kernel: br.Kernel.Version}
}

func nevraOf(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := header.Read(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	n, err := h.Header.NEVRA()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if n.NoEpoch || n.EVR.Epoch == 0 {
		return fmt.Sprintf("%s-%s-%s.%s", n.Name, n.EVR.Version, n.EVR.Release, n.Arch)
	}
	return n.String()
}
