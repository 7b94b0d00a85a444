// Package el7 is a test kit around the real CentOS 7.9 packages kept in
// ../shared/el7-real (see its README): it picks the real packages a test
// asks for, with everything they require, so a test can run a real EL7
// rpm 4.11 transaction (Berkeley DB rpmdb, real shell and Lua scriptlets,
// wall-clock install times) through builder/install.
//
// The directory holds no package of 4 MiB or more. Where a closure needs
// one, the kit adds a labelled stand-in (an unsigned package whose Summary
// says it is a stand-in): glibc-common (glibc requires it at its exact
// version), systemd (a systemctl that records its arguments), the kernel
// (a placeholder laid out as EL7 ships it), binutils' nm and python-libs.
// The result is an rpm transaction, or an image that rpm, e2fsck and
// debugfs can check, never a bootable CentOS system.
//
//	pkgs := el7.Closure(t, t.TempDir(), "rpm")
//	rep, err := install.Install(ctx, install.Options{Root: root, Tools: tools, Packages: pkgs})
//
// A test that locks a profile with kiln's resolver serves the stand-ins as
// a repository of their own beside the real packages' repodata:
//
//	repos: base file://el7.Dir(t) (gpgkey el7.Key(t)), standins file://el7.StandinRepo(t, dir) (gpgcheck off)
package el7

import (
	"bufio"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// Package is a package file and the NEVRA a lock would name it by.
type Package struct {
	NEVRA string
	Path  string
}

// Dir returns the directory of the real CentOS 7.9 packages, skipping the
// test (failing it in CI) when the data is not there.
func Dir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(reftest.Shared(tb, "el7-real"), "centos-7.9.2009-base")
}

// standins are the packages the real set lacks (4 MiB and more) that a
// closure may need, each exactly as the real packages require it.
var standins = []*rpmtest.Package{{
	Name: "glibc-common", Version: "2.17", Release: "324.el7_9", Arch: "x86_64",
	Summary: "stand-in for CentOS 7's glibc-common (not in ../shared/el7-real): empty, unsigned",
}, {
	// dracut, grub2-tools and systemd-sysv need systemd, udev and
	// systemd-units; kiln runs the image's systemctl to enable units. This
	// one records its arguments, saying on each line that it is a stand-in.
	Name: "systemd", Version: "219", Release: "78.el7_9.3", Arch: "x86_64",
	Summary:  "stand-in for CentOS 7's systemd (not in ../shared/el7-real): a systemctl that records its arguments, unsigned",
	Provides: rpmtest.Deps("systemd-units = 219-78.el7_9.3", "udev = 219", "/bin/systemctl"),
	Requires: rpmtest.Deps("bash"),
	Files: []rpmtest.File{
		{Path: "/usr/bin/systemctl", Mode: 0o755, Content: "#!/bin/sh\necho \"stand-in systemctl: $*\" >> /var/log/systemctl.calls\n"},
		{Path: "/usr/lib/systemd", Mode: fs.ModeDir | 0o755},
		{Path: "/usr/lib/systemd/system", Mode: fs.ModeDir | 0o755},
	},
}, {
	// No CentOS 7 kernel is in the set (it is far over 4 MiB): this one
	// lays out a placeholder as EL7 ships it, /boot/vmlinuz-KVER beside
	// /lib/modules/KVER. It cannot boot.
	Name: "kernel", Version: "3.10.0", Release: "1160.el7", Arch: "x86_64",
	Summary:  "stand-in for CentOS 7's kernel (not in ../shared/el7-real): a placeholder vmlinuz that cannot boot, unsigned",
	Requires: rpmtest.Deps("filesystem"),
	Files: []rpmtest.File{
		{Path: "/boot/vmlinuz-" + KernelVersion, Mode: 0o755, Content: "stand-in kernel: this image does not boot\n"},
		{Path: "/lib/modules/" + KernelVersion, Mode: fs.ModeDir | 0o755},
		{Path: "/lib/modules/" + KernelVersion + "/modules.dep", Content: ""},
		{Path: "/lib/modules/" + KernelVersion + "/modules.builtin", Content: "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n"},
	},
}, {
	// kmod's weak-modules needs /usr/bin/nm.
	Name: "binutils", Version: "2.27", Release: "44.base.el7", Arch: "x86_64",
	Summary:  "stand-in for CentOS 7's binutils (not in ../shared/el7-real): an nm that fails saying so, unsigned",
	Requires: rpmtest.Deps("bash"),
	Files: []rpmtest.File{
		{Path: "/usr/bin/nm", Mode: 0o755, Content: "#!/bin/sh\necho 'stand-in nm: binutils is not in ../shared/el7-real' >&2\nexit 1\n"},
	},
}, {
	// python (pulled in by grub2-tools-extra's tools) requires its library.
	Name: "python-libs", Version: "2.7.5", Release: "89.el7", Arch: "x86_64",
	Summary:  "stand-in for CentOS 7's python-libs (not in ../shared/el7-real): empty, unsigned",
	Provides: rpmtest.Deps("libpython2.7.so.1.0()(64bit)", "python-libs(x86-64) = 2.7.5-89.el7"),
}}

// KernelVersion is the stand-in kernel's version (CentOS 7.9's).
const KernelVersion = "3.10.0-1160.el7.x86_64"

// StandinRepo writes the stand-ins as a repository of their own under dir
// (Packages/ and repodata/, unsigned: a profile names it with gpgcheck
// off), to be served beside the real packages, whose repodata Dir holds.
func StandinRepo(tb testing.TB, dir string) string {
	tb.Helper()
	return StandinRepoWith(tb, dir)
}

// StandinRepoWith is StandinRepo with some stand-ins replaced by the
// packages given, by name: a boot test gives a kernel that boots.
func StandinRepoWith(tb testing.TB, dir string, replace ...*rpmtest.Package) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "Packages"), 0o755); err != nil {
		tb.Fatal(err)
	}
	set := append([]*rpmtest.Package(nil), standins...)
	for _, r := range replace {
		found := false
		for i, s := range set {
			if s.Name == r.Name {
				set[i], found = r, true
			}
		}
		if !found {
			tb.Fatalf("el7: no stand-in named %s to replace", r.Name)
		}
	}
	var pkgs []*repo.Package
	for _, s := range set {
		data, err := s.Build(rpmtest.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Packages", s.FileName()), data, 0o644); err != nil {
			tb.Fatal(err)
		}
		pkgs = append(pkgs, s.RepoPackage(data))
	}
	if err := rpmtest.WriteRepo(dir, pkgs, rpmtest.RepoOptions{}); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Key returns the path of the CentOS 7 signing key (RPM-GPG-KEY-CentOS-7)
// kept with the real packages.
func Key(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(reftest.Shared(tb, "el7-real"), "RPM-GPG-KEY-CentOS-7")
}

type pkgInfo struct {
	Package
	name     string
	provides []string
	requires []string
	files    []string
}

// Closure returns the named packages and everything they require, real
// packages from Dir and, where the real set lacks a requirement, the
// stand-ins (written to scratch), sorted by NEVRA.
func Closure(tb testing.TB, scratch string, names ...string) []Package {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(tb), "*.rpm"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no packages in %s: %v", Dir(tb), err)
	}
	for _, s := range standins {
		p, err := s.WriteFile(scratch, rpmtest.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, p)
	}
	var all []*pkgInfo
	for _, p := range paths {
		info, err := read(p)
		if err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		all = append(all, info)
	}
	byCap := map[string]*pkgInfo{}
	for _, p := range all {
		for _, c := range append(append([]string{p.name}, p.provides...), p.files...) {
			if _, ok := byCap[c]; !ok {
				byCap[c] = p
			}
		}
	}
	seen := map[*pkgInfo]bool{}
	var queue []*pkgInfo
	for _, n := range names {
		p, ok := byCap[n]
		if !ok {
			tb.Fatalf("no package %q in %s", n, Dir(tb))
		}
		queue = append(queue, p)
	}
	var out []Package
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p.Package)
		for _, r := range p.requires {
			q, ok := byCap[r]
			if !ok && strings.HasPrefix(r, "/") {
				q, ok = byCap[path.Join("/usr", r)]
			}
			if !ok {
				tb.Fatalf("%s requires %s, which neither the real packages nor a stand-in provide", p.NEVRA, r)
			}
			queue = append(queue, q)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NEVRA < out[j].NEVRA })
	return out
}

func read(p string) (*pkgInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkg, err := header.Read(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	h := pkg.Header
	nevra, err := h.NEVRA()
	if err != nil {
		return nil, err
	}
	info := &pkgInfo{Package: Package{NEVRA: nevra.String(), Path: p}, name: h.Name()}
	prov, err := h.Provides()
	if err != nil {
		return nil, err
	}
	for _, d := range prov {
		info.provides = append(info.provides, d.Name)
	}
	req, err := h.Requires()
	if err != nil {
		return nil, err
	}
	for _, d := range req {
		if d.Sense&header.SenseRPMLib == 0 && !strings.HasPrefix(d.Name, "rpmlib(") {
			info.requires = append(info.requires, d.Name)
		}
	}
	base, _ := h.Strings(header.TagBaseNames)
	dirs, _ := h.Strings(header.TagDirNames)
	idx, _ := h.Uint32s(header.TagDirIndexes)
	for i, b := range base {
		if i < len(idx) && int(idx[i]) < len(dirs) {
			info.files = append(info.files, dirs[idx[i]]+b)
		}
	}
	return info, nil
}
