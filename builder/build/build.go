// Package build turns a profile and its lock into image files: it fetches
// and verifies the locked packages (package supply, with the keys the lock
// pins), installs them with the target's own
// rpm, customizes the tree, makes it bootable, writes the raw disk and
// encodes every output format the profile asks for, then writes the build
// manifest and an SPDX SBOM. It consumes only the lock, never repository
// metadata, so a build is reproducible, and with Options.Offline it runs from
// a cache filled by `kiln fetch --images` with no network at all.
//
// Outputs are assembled in a staging directory inside the output
// directory and renamed into place at the end: a failed build leaves
// nothing behind.
package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"
	"time"

	"github.com/kiln-build/kiln/builder/boot"
	"github.com/kiln-build/kiln/builder/buildinfo"
	"github.com/kiln-build/kiln/builder/chroot"
	"github.com/kiln-build/kiln/builder/containerimages"
	"github.com/kiln-build/kiln/builder/customize"
	"github.com/kiln-build/kiln/builder/disk"
	"github.com/kiln-build/kiln/builder/format/ova"
	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/nodeimages"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/builder/supply"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"github.com/kiln-build/kiln/firstboot/imageset"
)

// Options are the build's inputs.
type Options struct {
	Profile *spec.Profile
	Lock    *lock.Lock
	// CacheDir holds verified packages (see fetch).
	CacheDir string
	// OutDir receives NAME.raw, NAME.qcow2, ..., NAME.manifest.json and
	// NAME.spdx.json. It is created if missing.
	OutDir string
	// KilnInit and Firstboot are the static helper binaries baked into the
	// image (cmd/kiln-init and cmd/kiln-firstboot).
	KilnInit, Firstboot string
	// SourceDateEpoch fixes every timestamp; nil means the newest build
	// time among the locked packages.
	SourceDateEpoch *time.Time
	Client          *download.Client
	// Offline builds from CacheDir alone and never touches the network:
	// a package or image the cache lacks fails the fetch stage with a
	// *supply.MissingError naming the first one.
	Offline bool
	// Progress gets stage and download events; nil is silent.
	Progress Progress
	// Log receives the output of the tools kiln runs (rpm and its
	// scriptlets, dracut...), as NAME.build.log in OutDir does.
	Log io.Writer
	// StrictScriptlets fails the build when a scriptlet fails; otherwise
	// the manifest lists the failures (rpm itself only warns).
	StrictScriptlets bool
}

// Progress receives build events. Fetch is passed to the download stage.
type Progress interface {
	StageStart(name string)
	StageDone(name string, d time.Duration)
	Fetch() fetch.Progress
}

// StageError says which stage failed.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Build runs every stage and returns the manifest it wrote.
func Build(ctx context.Context, o Options) (_ *Manifest, err error) {
	p, l := o.Profile, o.Lock
	if p == nil || l == nil {
		return nil, errors.New("build needs a profile and its lock")
	}
	if err := l.Check(p, "the lock", p.Name); err != nil {
		return nil, err
	}
	// Every image first boot needs is preloaded or allowed to be pulled: checked before
	// any work, so a build cannot make an image that needs a registry by accident.
	set, err := nodeimages.ForLock(p, l)
	if err != nil {
		return nil, err
	}
	preload, pull := nodeimages.Sources(p, set)
	if err := nodeimages.Check(preload, l.ImageDigest); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, chroot.ErrNotRoot
	}
	sde := newestBuildTime(l)
	if o.SourceDateEpoch != nil {
		sde = *o.SourceDateEpoch
	}
	sde = sde.UTC().Truncate(time.Second)
	for _, b := range []struct{ what, path string }{{"kiln-init", o.KilnInit}, {"kiln-firstboot", o.Firstboot}} {
		if _, err := os.Stat(b.path); err != nil {
			return nil, fmt.Errorf("the %s binary is needed in every image: %w", b.what, err)
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(o.OutDir, ".kiln-"+p.Name+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		// The staging dir holds the image tree; whatever happens, it goes.
		if rerr := removeTree(stage); rerr != nil && err == nil {
			err = rerr
		}
	}()

	m := &Manifest{Lock: l}
	run := func(name string, fn func() error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.Progress != nil {
			o.Progress.StageStart(name)
		}
		start := time.Now()
		if err := fn(); err != nil {
			return &StageError{Stage: name, Err: err}
		}
		d := time.Since(start)
		m.Stages = append(m.Stages, Stage{Name: name, Seconds: d.Round(time.Millisecond).Seconds()})
		if o.Progress != nil {
			o.Progress.StageDone(name, d)
		}
		return nil
	}

	layout, err := disk.Plan(disk.Options{Size: int64(p.Disk.Size), Seed: l.Digest(), Time: sde, Compat: disk.Compat(compat(p.Disk.Compat))})
	if err != nil {
		return nil, fmt.Errorf("planning the disk: %w", err)
	}
	rec := buildinfo.Record{
		Name: p.Name, KilnVersion: buildinfo.Version(), ProfileDigest: ProfileDigest(p), LockDigest: "sha256:" + l.Digest(),
		InputsDigest: l.InputsDigest, SourceDateEpoch: sde.Unix(), RootUUID: layout.Root.UUID, DiskGUID: layout.DiskGUID,
		DiskSize: layout.Size, Firmware: p.Boot.Firmware, Packages: len(l.Packages),
	}
	if p.Boot.Firmware != "bios" {
		rec.ESPUUID = layout.ESP.UUID()
	}

	root := filepath.Join(stage, "root")
	tools := filepath.Join(stage, "tools")
	scratch := filepath.Join(stage, "scratch")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return nil, err
	}
	// The build log: rpm's and every scriptlet's output, and that of the
	// tools run in the tree, published beside the manifest.
	logName := p.Name + ".build.log"
	logFile, err := os.Create(filepath.Join(stage, logName))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	logw := io.Writer(logFile)
	if o.Log != nil {
		logw = io.MultiWriter(logFile, o.Log)
	}
	inChroot := func(ctx context.Context, argv []string) error {
		env := append(append([]string{}, chroot.DefaultEnv...), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", sde.Unix()))
		fmt.Fprintf(logw, "+ %s\n", strings.Join(argv, " "))
		return chroot.Run(ctx, chroot.Spec{Root: root, Env: env}, argv, logw, logw)
	}

	var pkgs []install.Package
	if err := run("fetch", func() error {
		pkgs, err = fetchLocked(ctx, o)
		return err
	}); err != nil {
		return nil, err
	}
	if err := run("install", func() error {
		rep, err := install.Install(ctx, install.Options{Root: root, Tools: tools, Packages: pkgs, Log: logw,
			SourceDateEpoch: sde.Unix(), StrictScriptlets: o.StrictScriptlets})
		m.ScriptletFailures = rep.ScriptletFailures
		if err == nil {
			err = removeTree(tools)
		}
		return err
	}); err != nil {
		return nil, err
	}
	var bootRes boot.Result
	if err := run("customize", func() error {
		pinned := supply.Pinned(preload, l)
		if err := containerimages.Stage(ctx, nodeimages.Images(preload), root, containerimages.Options{CacheDir: o.CacheDir, ModTime: sde, Pinned: pinned, Offline: o.Offline}); err != nil {
			return err
		}
		sandbox, err := writeImageSet(root, set, preload, pull, pinned, sde)
		if err != nil {
			return err
		}
		return customize.Apply(ctx, customize.Options{Root: root, Profile: p, RootUUID: rec.RootUUID, ESPUUID: rec.ESPUUID,
			Firstboot: o.Firstboot, ModTime: sde, Run: inChroot, SandboxImage: sandbox})
	}); err != nil {
		return nil, err
	}
	if err := run("boot", func() error {
		if err := install.UnmaskKernelInstall(root); err != nil {
			return err
		}
		bootRes, err = boot.Prepare(ctx, boot.Options{Root: root, Title: p.Name, RootUUID: rec.RootUUID, Cmdline: p.KernelCmdline,
			Firmware: p.Boot.Firmware, Initramfs: p.Boot.Initramfs, SecureBoot: p.Boot.SecureBoot,
			KilnInit: o.KilnInit, ModTime: sde, Run: inChroot, ScratchDir: scratch})
		if err != nil {
			return err
		}
		rec.Kernel = bootRes.Kernel.Version
		recJSON, _ := json.MarshalIndent(rec, "", "  ")
		return writeFile(filepath.Join(root, buildinfo.RecordPath), append(recJSON, '\n'), sde)
	}); err != nil {
		return nil, err
	}

	rawPath := filepath.Join(stage, p.Name+".raw")
	if err := run("disk", func() error {
		c, err := diskContents(root, bootRes)
		if err != nil {
			return err
		}
		if err := disk.Write(ctx, rawPath, layout, c); err != nil {
			return err
		}
		return removeTree(root)
	}); err != nil {
		return nil, err
	}

	outs, err := writeOutputs(ctx, p, rawPath, layout.Size, stage, scratch, sde, run)
	if err != nil {
		return nil, err
	}
	m.Outputs = outs
	var files []string
	for _, out := range outs {
		files = append(files, out.File)
	}

	m.Record, m.Log = rec, logName
	if err := logFile.Close(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", logName, err)
	}
	if err := publish(m, p, stage, o.OutDir, files, sde); err != nil {
		return nil, err
	}
	return m, nil
}

// writeImageSet writes the image set first boot reads (what is preloaded
// and what may be pulled) into the tree, and returns the sandbox image
// containerd is to use ("" for none).
func writeImageSet(root string, set *imageset.Set, preload []nodeimages.Source, pull []string, pinned map[string]string, sde time.Time) (string, error) {
	if set == nil && len(preload) == 0 {
		return "", nil
	}
	sandbox := ""
	if set == nil {
		set = &imageset.Set{APIVersion: imageset.APIVersion, Kind: imageset.Kind}
	} else {
		sandbox = nodeimages.SandboxImage(set)
	}
	set.Pull = pull
	set.Preloaded = []imageset.Preloaded{}
	for _, src := range preload {
		set.Preloaded = append(set.Preloaded, imageset.Preloaded{Ref: src.Ref, Digest: pinned[src.Ref], File: containerimages.FileName(src.Ref)})
	}
	data, err := set.Marshal()
	if err != nil {
		return "", err
	}
	return sandbox, writeFile(filepath.Join(root, imageset.Path), data, sde)
}

// diskContents is what the disk stage writes: the root tree, the ESP's few
// small files (carried in memory) and GRUB's BIOS images.
func diskContents(root string, b boot.Result) (disk.Contents, error) {
	c := disk.Contents{RootTree: root}
	if len(b.ESP) > 0 {
		esp := fstest.MapFS{}
		for name, host := range b.ESP {
			data, err := os.ReadFile(host)
			if err != nil {
				return c, err
			}
			esp[name] = &fstest.MapFile{Data: data, Mode: 0o644}
		}
		c.ESP = esp
	}
	if b.CoreImg != "" {
		core, err := os.ReadFile(b.CoreImg)
		if err != nil {
			return c, err
		}
		bootImg, err := os.ReadFile(b.BootImg)
		if err != nil {
			return c, err
		}
		c.BIOS = &disk.BIOSBoot{BootImg: bootImg, CoreImg: core}
	}
	return c, nil
}

// publish writes the SBOM and the manifest beside the outputs in stage,
// then renames every file into outDir: each is complete before any is
// in place.
func publish(m *Manifest, p *spec.Profile, stage, outDir string, files []string, sde time.Time) error {
	baseURLs := map[string][]string{}
	for _, r := range p.Repos {
		baseURLs[r.Name] = r.BaseURL
	}
	sbom, err := SBOM(m.Record, m.Lock, baseURLs)
	if err != nil {
		return err
	}
	manifestName, sbomName := p.Name+".manifest.json", p.Name+".spdx.json"
	if err := writeFile(filepath.Join(stage, sbomName), sbom, sde); err != nil {
		return err
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(stage, manifestName), append(mj, '\n'), time.Now()); err != nil {
		return err
	}
	for _, f := range append(files, sbomName, m.Log, manifestName) {
		if err := os.Rename(filepath.Join(stage, f), filepath.Join(outDir, f)); err != nil {
			return fmt.Errorf("publishing %s: %w", f, err)
		}
	}
	return nil
}

func compat(c string) string {
	if c == "" {
		return string(disk.CompatEL8)
	}
	return c
}

// newestBuildTime is the default SOURCE_DATE_EPOCH: the newest package's
// build time, so a rebuild from the same lock gets the same times.
func newestBuildTime(l *lock.Lock) time.Time {
	var newest int64
	for _, p := range l.Packages {
		newest = max(newest, p.BuildTime)
	}
	return time.Unix(newest, 0)
}

func fetchLocked(ctx context.Context, o Options) ([]install.Package, error) {
	var prog fetch.Progress
	if o.Progress != nil {
		prog = o.Progress.Fetch()
	}
	s, err := supply.Locked(ctx, o.Profile, o.Lock, supply.Options{CacheDir: o.CacheDir, Client: o.Client, Offline: o.Offline, Images: true, Progress: prog})
	if err != nil {
		return nil, err
	}
	var pkgs []install.Package
	for _, r := range s.Packages {
		pkgs = append(pkgs, install.Package{NEVRA: r.Package.NEVRA(), Path: r.Path})
	}
	return pkgs, nil
}

// ovaVM is the virtual hardware the OVA asks vSphere for.
func ovaVM(p *spec.Profile) ova.VM {
	fw := "efi"
	if p.Boot.Firmware == "bios" {
		fw = "bios"
	}
	return ova.VM{Name: p.Name, CPUs: p.OVA.CPUs, MemoryMiB: p.OVA.MemoryMiB, HardwareVersion: p.OVA.HardwareVersion,
		GuestOS: p.OVA.GuestOS, Firmware: fw, Network: p.OVA.Network, ExtraConfig: p.OVA.ExtraConfig}
}

func writeFile(path string, data []byte, mtime time.Time) error {
	return atomicfile.WriteFile(path, data, atomicfile.Options{Mode: 0o644, ModTime: mtime, MakeDirs: true, NoSync: true})
}

// removeTree deletes a build tree; files rpm made immutable or read-only
// directories do not stop it.
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
