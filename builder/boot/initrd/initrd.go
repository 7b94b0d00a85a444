// Package initrd builds the initramfs kiln puts in an image: kiln-init as
// /init, the storage and filesystem drivers root needs (resolved through
// the image kernel's modules.dep), and nothing else. The output is a
// reproducible gzip-compressed newc cpio archive: sorted entries, fixed
// times and owners, sequential inode numbers.
//
//	err := initrd.Build(ctx, f, initrd.Options{Root: tree, KernelVersion: kver, Init: "build/bin/kiln-init", ModTime: t})
package initrd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/builder/boot/kilninit"
)

// DefaultModules are the drivers kiln's initramfs carries: virtio (QEMU,
// KVM, GCE), VMware PVSCSI and LSI, Hyper-V, AHCI/IDE, NVMe, SCSI disks,
// and ext4 with the checksum it needs. Missing ones are skipped: each
// kernel builds a different set in.
var DefaultModules = []string{
	"virtio_pci", "virtio_blk", "virtio_scsi", "nvme", "ahci", "ata_piix", "sd_mod",
	"vmw_pvscsi", "mptspi", "mptsas", "hv_storvsc", "hv_vmbus",
	"crc32c_intel", "crc32c_generic", "ext4",
}

// Options says what goes into the initramfs.
type Options struct {
	Root          string    // the image's root tree
	KernelVersion string    // the directory name under lib/modules
	Init          string    // the static kiln-init binary on the build host
	Modules       []string  // module names; DefaultModules when nil
	ModTime       time.Time // recorded as every entry's mtime
}

// Report says what Build put in.
type Report struct {
	Modules []string // module paths in load order, relative to lib/modules/KVER
	Missing []string // requested modules the kernel has neither as a module nor built in
}

// Build writes the initramfs to w.
func Build(ctx context.Context, w io.Writer, opts Options) (Report, error) {
	var rep Report
	modDir := filepath.Join(opts.Root, "lib/modules", opts.KernelVersion)
	names := opts.Modules
	if names == nil {
		names = DefaultModules
	}
	order, missing, err := ResolveModules(modDir, names)
	if err != nil {
		return rep, err
	}
	rep.Modules, rep.Missing = order, missing
	initInfo, err := os.Stat(opts.Init)
	if err != nil {
		return rep, fmt.Errorf("kiln-init binary: %w", err)
	}

	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return rep, err
	}
	cw := &cpioWriter{w: gz}
	mtime := opts.ModTime.Unix()
	modPrefix := path.Join("lib/modules", opts.KernelVersion)

	dirs := map[string]bool{}
	addDir := func(d string) {
		var chain []string
		for ; d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			dirs[chain[i]] = true
			cw.header(cpioEntry{name: chain[i], mode: modeDir | 0o755, mtime: mtime, nlink: 2})
		}
	}
	for _, d := range []string{"dev", "etc/kiln-init", "proc", "run", "sys", "sysroot"} {
		addDir(d)
	}
	// The kernel opens /dev/console for init's stdio before anything mounts.
	cw.header(cpioEntry{name: "dev/console", mode: modeChar | 0o600, mtime: mtime, rdevMajor: 5, rdevMinor: 1})

	list := strings.Builder{}
	for _, m := range order {
		list.WriteString(path.Join(modPrefix, m) + "\n")
	}
	cw.header(cpioEntry{name: kilninit.ModulesList, mode: modeFile | 0o644, mtime: mtime, size: int64(list.Len())})
	cw.body(strings.NewReader(list.String()), int64(list.Len()))

	f, err := os.Open(opts.Init)
	if err != nil {
		return rep, err
	}
	cw.header(cpioEntry{name: "init", mode: modeFile | 0o755, mtime: mtime, size: initInfo.Size()})
	cw.body(f, initInfo.Size())
	f.Close()

	sorted := append([]string(nil), order...)
	sort.Strings(sorted)
	for _, m := range sorted {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		name := path.Join(modPrefix, m)
		addDir(path.Dir(name))
		f, err := os.Open(filepath.Join(modDir, filepath.FromSlash(m)))
		if err != nil {
			return rep, fmt.Errorf("module %s: %w", m, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return rep, err
		}
		cw.header(cpioEntry{name: name, mode: modeFile | 0o644, mtime: mtime, size: st.Size()})
		cw.body(f, st.Size())
		f.Close()
	}
	if err := cw.close(); err != nil {
		return rep, fmt.Errorf("writing initramfs: %w", err)
	}
	if err := gz.Close(); err != nil {
		return rep, fmt.Errorf("writing initramfs: %w", err)
	}
	return rep, nil
}

// ResolveModules returns the module files (relative to modDir) that load
// the named modules, dependencies first, and the names found neither as
// modules nor in modules.builtin. It reads modules.dep, modules.builtin
// and the "pre:" soft dependencies of modules.softdep.
func ResolveModules(modDir string, names []string) (order, missing []string, err error) {
	deps, err := readDeps(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	builtin, err := readBuiltin(filepath.Join(modDir, "modules.builtin"))
	if err != nil {
		return nil, nil, fmt.Errorf("reading modules.builtin: %w", err)
	}
	softPre, err := readSoftPre(filepath.Join(modDir, "modules.softdep"))
	if err != nil {
		return nil, nil, fmt.Errorf("reading modules.softdep: %w", err)
	}
	byName := map[string]string{}
	for p := range deps {
		byName[moduleName(p)] = p
	}
	done := map[string]bool{}
	var visit func(p string, depth int)
	visit = func(p string, depth int) {
		if done[p] || depth > 64 {
			return
		}
		done[p] = true
		for _, s := range softPre[moduleName(p)] {
			if sp, ok := byName[s]; ok {
				visit(sp, depth+1)
			}
		}
		for _, d := range deps[p] {
			visit(d, depth+1)
		}
		order = append(order, p)
	}
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		if p, ok := byName[n]; ok {
			visit(p, 0)
		} else if !builtin[n] {
			missing = append(missing, n)
		}
	}
	return order, missing, nil
}

// moduleName turns "kernel/fs/ext4/ext4.ko.xz" into "ext4"; '-' and '_'
// are the same in module names.
func moduleName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

func readDeps(p string) (map[string][]string, error) {
	deps := map[string][]string{}
	err := eachLine(p, func(l string) {
		mod, rest, ok := strings.Cut(l, ":")
		if ok {
			deps[mod] = strings.Fields(rest)
		}
	})
	return deps, err
}

func readBuiltin(p string) (map[string]bool, error) {
	b := map[string]bool{}
	err := eachLine(p, func(l string) { b[moduleName(l)] = true })
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	return b, err
}

func readSoftPre(p string) (map[string][]string, error) {
	pre := map[string][]string{}
	err := eachLine(p, func(l string) {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "softdep" {
			return
		}
		mod := strings.ReplaceAll(f[1], "-", "_")
		inPre := false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				inPre = true
			case "post:":
				inPre = false
			default:
				if inPre {
					pre[mod] = append(pre[mod], strings.ReplaceAll(w, "-", "_"))
				}
			}
		}
	})
	if errors.Is(err, os.ErrNotExist) {
		return pre, nil
	}
	return pre, err
}

func eachLine(p string, fn func(string)) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			fn(l)
		}
	}
	return sc.Err()
}
