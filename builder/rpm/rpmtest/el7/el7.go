// Package el7 is a test kit around the real CentOS 7.9 packages kept in
// ../shared/el7-real (see its README): it picks the real packages a test
// asks for, with everything they require, so a test can run a real EL7
// rpm 4.11 transaction (Berkeley DB rpmdb, real shell and Lua scriptlets,
// wall-clock install times) through builder/install.
//
// The directory holds no package of 4 MiB or more. Where a closure needs
// one, the kit adds a labelled stand-in (an unsigned, empty package whose
// Summary says it is a stand-in): today only glibc-common, which glibc
// requires at its exact version. The result is an rpm transaction, never a
// bootable CentOS system.
//
//	pkgs := el7.Closure(t, t.TempDir(), "rpm")
//	rep, err := install.Install(ctx, install.Options{Root: root, Tools: tools, Packages: pkgs})
package el7

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/reftest"
	"github.com/kiln-build/kiln/builder/rpm/header"
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
}}

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
