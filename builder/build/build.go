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
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing/fstest"
	"time"

	"github.com/kiln-build/kiln/builder/boot"
	"github.com/kiln-build/kiln/builder/buildinfo"
	"github.com/kiln-build/kiln/builder/chroot"
	"github.com/kiln-build/kiln/builder/customize"
	"github.com/kiln-build/kiln/builder/disk"
	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/gce"
	"github.com/kiln-build/kiln/builder/format/ova"
	"github.com/kiln-build/kiln/builder/format/qcow2"
	"github.com/kiln-build/kiln/builder/format/vmdk"
	"github.com/kiln-build/kiln/builder/images"
	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/nodeimages"
	"github.com/kiln-build/kiln/builder/rpm/download"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/builder/supply"
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
	rec := Record{
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
		if err := images.Stage(ctx, nodeimages.Images(preload), root, images.Options{CacheDir: o.CacheDir, ModTime: sde, Pinned: pinned, Offline: o.Offline}); err != nil {
			return err
		}
		sandbox := ""
		if set != nil || len(preload) > 0 {
			if set == nil {
				set = &imageset.Set{APIVersion: imageset.APIVersion, Kind: imageset.Kind}
			} else {
				sandbox = nodeimages.SandboxImage(set)
			}
			set.Pull = pull
			set.Preloaded = []imageset.Preloaded{}
			for _, src := range preload {
				set.Preloaded = append(set.Preloaded, imageset.Preloaded{Ref: src.Ref, Digest: pinned[src.Ref], File: images.FileName(src.Ref)})
			}
			data, err := set.Marshal()
			if err != nil {
				return err
			}
			if err := writeFile(filepath.Join(root, imageset.Path), data, sde); err != nil {
				return err
			}
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
		return writeFile(filepath.Join(root, RecordPath), append(recJSON, '\n'), sde)
	}); err != nil {
		return nil, err
	}

	rawPath := filepath.Join(stage, p.Name+".raw")
	if err := run("disk", func() error {
		c := disk.Contents{RootTree: root}
		if len(bootRes.ESP) > 0 {
			// The ESP holds a few small files; an in-memory FS carries them.
			esp := fstest.MapFS{}
			for name, host := range bootRes.ESP {
				data, err := os.ReadFile(host)
				if err != nil {
					return err
				}
				esp[name] = &fstest.MapFile{Data: data, Mode: 0o644}
			}
			c.ESP = esp
		}
		if bootRes.CoreImg != "" {
			core, err := os.ReadFile(bootRes.CoreImg)
			if err != nil {
				return err
			}
			bootImg, err := os.ReadFile(bootRes.BootImg)
			if err != nil {
				return err
			}
			c.BIOS = &disk.BIOSBoot{BootImg: bootImg, CoreImg: core}
		}
		if err := disk.Write(ctx, rawPath, layout, c); err != nil {
			return err
		}
		return removeTree(root)
	}); err != nil {
		return nil, err
	}

	rawFile, err := os.Open(rawPath)
	if err != nil {
		return nil, err
	}
	defer rawFile.Close()
	size := layout.Size
	var files []string
	// The VMDK is compressed once: the OVA packs it, NAME.vmdk is a copy
	// with its own extent name, and the GCE archive reuses its grains'
	// deflate blocks.
	sharedVMDK := ""
	if slices.Contains(p.Outputs, "vmdk") || slices.Contains(p.Outputs, "ova") {
		sharedVMDK = filepath.Join(scratch, ovaVM(p).DiskFileName())
		if err := run("encode vmdk", func() error {
			return format.WriteFile(ctx, sharedVMDK, vmdk.Encoder{FileName: ovaVM(p).DiskFileName()}, rawFile, size)
		}); err != nil {
			return nil, err
		}
	}
	// The raw disk's digest is computed alongside the encoders.
	type digest struct {
		sum string
		n   int64
		err error
	}
	rawSum := make(chan digest, 1)
	if slices.Contains(p.Outputs, "raw") {
		go func() {
			f, err := os.Open(rawPath)
			if err != nil {
				rawSum <- digest{err: err}
				return
			}
			defer f.Close()
			sum, err := format.Sum(f, size)
			rawSum <- digest{sum, size, err}
		}()
	}
	for _, f := range orderedOutputs(p.Outputs) {
		name := outputName(p, f)
		dst := filepath.Join(stage, name)
		var sum string
		var n int64
		if err := run("format "+f, func() (err error) {
			switch f {
			case "raw":
				return nil
			case "vmdk":
				sum, n, err = copyRenamedVMDK(ctx, sharedVMDK, dst, name)
			case "ova":
				sum, n, err = format.WriteFileSum(ctx, dst, ova.Encoder{VM: ovaVM(p), ModTime: sde, VMDK: sharedVMDK}, rawFile, size)
			case "qcow2":
				sum, n, err = format.WriteFileSum(ctx, dst, qcow2.Encoder{}, rawFile, size)
			case "gce":
				sum, n, err = format.WriteFileSum(ctx, dst, gce.Encoder{ModTime: sde, VMDK: sharedVMDK}, rawFile, size)
			default:
				err = fmt.Errorf("unknown output %q", f)
			}
			return err
		}); err != nil {
			return nil, err
		}
		files = append(files, name)
		m.Outputs = append(m.Outputs, Output{Format: f, File: name, Size: n, SHA256: sum})
	}
	for i, out := range m.Outputs {
		if out.Format == "raw" {
			d := <-rawSum
			if d.err != nil {
				return nil, fmt.Errorf("hashing %s: %w", out.File, d.err)
			}
			m.Outputs[i].SHA256, m.Outputs[i].Size = d.sum, d.n
		}
	}
	rawFile.Close()

	m.Record = rec
	baseURLs := map[string][]string{}
	for _, r := range p.Repos {
		baseURLs[r.Name] = r.BaseURL
	}
	sbom, err := SBOM(rec, l, baseURLs)
	if err != nil {
		return nil, err
	}
	manifestName, sbomName := p.Name+".manifest.json", p.Name+".spdx.json"
	m.Log = logName
	if err := logFile.Close(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", logName, err)
	}
	if err := writeFile(filepath.Join(stage, sbomName), sbom, sde); err != nil {
		return nil, err
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(stage, manifestName), append(mj, '\n'), time.Now()); err != nil {
		return nil, err
	}
	// Publish: every file is complete; rename them into place.
	for _, f := range append(files, sbomName, logName, manifestName) {
		if err := os.Rename(filepath.Join(stage, f), filepath.Join(o.OutDir, f)); err != nil {
			return nil, fmt.Errorf("publishing %s: %w", f, err)
		}
	}
	return m, nil
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

func orderedOutputs(outs []string) []string {
	order := map[string]int{}
	for i, f := range spec.KnownOutputs {
		order[f] = i
	}
	o := append([]string(nil), outs...)
	sort.Slice(o, func(i, j int) bool { return order[o[i]] < order[o[j]] })
	return o
}

func outputName(p *spec.Profile, f string) string {
	switch f {
	case "gce":
		return gce.FileName(p.Name)
	default:
		return p.Name + "." + f
	}
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

// copyRenamedVMDK writes NAME.vmdk from the shared encode, atomically,
// and returns its sha256 and size.
func copyRenamedVMDK(ctx context.Context, src, dst, name string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	tmp := dst + ".kiln-tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(out, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	err = vmdk.CopyRenamed(ctx, bw, bufio.NewReaderSize(in, 1<<20), name)
	if err == nil {
		err = bw.Flush()
	}
	err = errors.Join(err, out.Close())
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeFile(path string, data []byte, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	return os.Chtimes(path, mtime, mtime)
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
