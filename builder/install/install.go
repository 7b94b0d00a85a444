// Package install installs a locked package set into an empty image root
// the way the target distribution would: the target's own rpm and the
// packages it needs are unpacked in Go into a tools tree, and that rpm then
// runs one transaction over every locked package into the image root,
// chrooted into the tools tree, with scriptlets, triggers and Lua, and
// writes the image's rpmdb in the target's own format. What that rpm
// wrote with the clock into a Berkeley DB rpmdb (EL7, EL8) is then set
// to SOURCE_DATE_EPOCH by rpmdb.Normalize, and the target's rpm reads the
// result back before Install returns.
//
// It needs root: it chroots and mounts.
package install

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/treepath"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kiln-build/kiln/builder/chroot"
	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/payload"
	"github.com/kiln-build/kiln/builder/rpm/rpmdb"
)

// Package is a verified RPM file to install.
type Package struct {
	NEVRA string // name-[epoch:]version-release.arch, as the lock prints it
	Path  string // host path of the .rpm
}

// Options for Install.
type Options struct {
	Root     string    // the image root: created, must be empty
	Tools    string    // scratch directory for the tools tree: created, removed by the caller
	Packages []Package // the whole locked set
	// Log receives rpm's output; nil discards it.
	Log io.Writer
	// SourceDateEpoch, when non-zero, is passed to rpm and scriptlets:
	// rpm >= 4.18 then records it as every package's install time, and
	// shadow-utils uses it for password change dates. An older rpm's
	// Berkeley DB rpmdb (EL7, EL8) gets it afterwards (rpmdb.Normalize).
	SourceDateEpoch int64
	// StrictScriptlets makes a failed scriptlet an error (*ScriptletError)
	// rather than a line in Report.ScriptletFailures.
	StrictScriptlets bool
}

// Report says what happened.
type Report struct {
	Tools     []string // NEVRAs unpacked into the tools tree, in unpack order
	Installed []string // NEVRAs the image's rpmdb lists afterwards, sorted
	// ScriptletFailures are the scriptlets rpm reported as failed.
	ScriptletFailures []ScriptletFailure
}

// Where the tools tree sees the image and the packages.
const (
	imageMount = "/run/kiln/root"
	pkgMount   = "/run/kiln/pkgs"
)

// kernelInstallPlugins are the kernel-install plugins EL and Fedora ship
// that would build a dracut initramfs or touch the bootloader from the
// kernel's %posttrans; kiln makes the initramfs and boot chain itself. An
// /etc/kernel/install.d entry pointing at /dev/null masks a plugin.
var kernelInstallPlugins = []string{
	"20-grub.install", "20-grubby.install", "50-depmod.install", "50-dracut.install",
	"51-dracut-rescue.install", "60-kdump.install", "90-loaderentry.install",
	"90-uki-copy.install", "92-crashkernel.install", "92-tuned.install", "95-kernel-hooks.install",
	"99-grub-mkconfig.install",
}

// Install runs the whole stage.
func Install(ctx context.Context, o Options) (Report, error) {
	var rep Report
	if os.Geteuid() != 0 {
		return rep, chroot.ErrNotRoot
	}
	if len(o.Packages) == 0 {
		return rep, errors.New("no packages to install")
	}
	pkgs, err := readHeaders(o.Packages)
	if err != nil {
		return rep, err
	}
	tools, err := toolsClosure(pkgs)
	if err != nil {
		return rep, err
	}
	for _, p := range tools {
		if err := unpack(ctx, p, o.Tools); err != nil {
			return rep, fmt.Errorf("unpacking %s into the tools tree: %w", p.nevra, err)
		}
		rep.Tools = append(rep.Tools, p.nevra)
	}
	if err := prepareRoot(o.Root); err != nil {
		return rep, err
	}

	// Packages are bound into the tools tree one directory at a time (the
	// cache may spread them over several).
	var binds []chroot.Bind
	dirs := map[string]string{}
	var args []string
	for _, p := range pkgs {
		d := filepath.Dir(p.path)
		m, ok := dirs[d]
		if !ok {
			m = fmt.Sprintf("%s/%d", pkgMount, len(dirs))
			dirs[d] = m
			binds = append(binds, chroot.Bind{Host: d, Target: m, ReadOnly: true})
		}
		args = append(args, m+"/"+filepath.Base(p.path))
	}
	binds = append(binds,
		chroot.Bind{Host: o.Root, Target: imageMount},
		// Scriptlets get a private /dev and their own /proc; no /sys, so
		// nothing they run can reach the build host's devices or sysfs.
		chroot.Bind{Type: chroot.Dev, Target: imageMount + "/dev"},
		chroot.Bind{Type: chroot.Proc, Target: imageMount + "/proc"},
	)
	env := append(append([]string{}, chroot.DefaultEnv...), "KERNEL_INSTALL_BYPASS=1")
	if o.SourceDateEpoch != 0 {
		env = append(env, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", o.SourceDateEpoch))
	}
	spec := chroot.Spec{Root: o.Tools, Binds: binds, Env: env}
	var out bytes.Buffer
	logw := io.Writer(&out)
	if o.Log != nil {
		logw = io.MultiWriter(&out, o.Log)
	}
	// kiln verified every signature and digest before this point, against
	// the profile's keys; the image's rpmdb has no keys yet.
	argv := append([]string{"rpm", "--root", imageMount, "--install", "--nosignature", "--verbose"}, args...)
	// rpm reports failed scriptlets on stderr, and writes "warning: " and
	// the message separately: read them from stderr alone, where stdout's
	// block-buffered chunks cannot land in between.
	var stderr bytes.Buffer
	err = chroot.Run(ctx, spec, argv, logw, io.MultiWriter(logw, &stderr))
	rep.ScriptletFailures = scriptletFailures(stderr.String())
	if err != nil {
		return rep, fmt.Errorf("rpm transaction: %w\n%s", err, tail(out.String(), 20))
	}
	if o.StrictScriptlets && len(rep.ScriptletFailures) > 0 {
		return rep, &ScriptletError{Failures: rep.ScriptletFailures}
	}
	var dbpath bytes.Buffer
	if err := chroot.Run(ctx, chroot.Spec{Root: o.Tools}, []string{"rpm", "--eval", "%{_dbpath}"}, &dbpath, nil); err != nil {
		return rep, fmt.Errorf("asking rpm for its database path: %w", err)
	}
	dbdir, err := treepath.Confine(o.Root, strings.TrimSpace(dbpath.String()))
	if err != nil {
		return rep, err
	}
	// Before the check below, so the target's own rpm reads the result.
	if o.SourceDateEpoch != 0 {
		if err := rpmdb.Normalize(dbdir, time.Unix(o.SourceDateEpoch, 0)); err != nil {
			return rep, fmt.Errorf("making the image's rpmdb reproducible: %w", err)
		}
	}
	var q bytes.Buffer
	qf := `%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n`
	if err := chroot.Run(ctx, chroot.Spec{Root: o.Tools, Binds: []chroot.Bind{{Host: o.Root, Target: imageMount, ReadOnly: true}}},
		[]string{"rpm", "--root", imageMount, "-qa", "--qf", qf}, &q, &out); err != nil {
		return rep, fmt.Errorf("reading the image's rpmdb: %w", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(q.String()), "\n") {
		if l != "" && !strings.HasPrefix(l, "gpg-pubkey-") {
			rep.Installed = append(rep.Installed, normalizeEpoch(l))
		}
	}
	sort.Strings(rep.Installed)
	var want []string
	for _, p := range o.Packages {
		want = append(want, normalizeEpoch(p.NEVRA))
	}
	sort.Strings(want)
	if strings.Join(want, "\n") != strings.Join(rep.Installed, "\n") {
		return rep, fmt.Errorf("the image's rpmdb does not list exactly the locked packages: %s", diff(want, rep.Installed))
	}
	if err := dropSQLiteScratch(dbdir); err != nil {
		return rep, err
	}
	return rep, nil
}

// dropSQLiteScratch removes the shared-memory index (-shm) and an empty
// write-ahead log (-wal) sqlite leaves next to a closed rpmdb: sqlite
// makes them again on the next open, and the index holds random salt that
// would make two builds differ.
func dropSQLiteScratch(dir string) error {
	shm, _ := filepath.Glob(filepath.Join(dir, "*-shm"))
	for _, p := range shm {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	wal, _ := filepath.Glob(filepath.Join(dir, "*-wal"))
	for _, p := range wal {
		if st, err := os.Stat(p); err == nil && st.Size() == 0 {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalizeEpoch drops an explicit "0:" epoch, which rpm prints for
// packages that declare Epoch: 0 and the lock leaves out.
func normalizeEpoch(nevra string) string {
	if i := strings.Index(nevra, "-0:"); i >= 0 {
		return nevra[:i+1] + nevra[i+3:]
	}
	return nevra
}

func diff(want, got []string) string {
	g := map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	w := map[string]bool{}
	var missing, extra []string
	for _, s := range want {
		w[s] = true
		if !g[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !w[s] {
			extra = append(extra, s)
		}
	}
	return fmt.Sprintf("missing %v, unexpected %v", missing, extra)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// prepareRoot creates the image root and masks the kernel-install plugins.
func prepareRoot(root string) error {
	if ents, err := os.ReadDir(root); err == nil && len(ents) > 0 {
		return fmt.Errorf("image root %s is not empty", root)
	}
	d := filepath.Join(root, "etc/kernel/install.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	for _, p := range kernelInstallPlugins {
		if err := os.Symlink("/dev/null", filepath.Join(d, p)); err != nil {
			return err
		}
	}
	return nil
}

// UnmaskKernelInstall removes the masks Install put in place, so the
// booted image behaves as the distribution ships it.
func UnmaskKernelInstall(root string) error {
	d := filepath.Join(root, "etc/kernel/install.d")
	for _, p := range kernelInstallPlugins {
		q := filepath.Join(d, p)
		if t, err := os.Readlink(q); err == nil && t == "/dev/null" {
			if err := os.Remove(q); err != nil {
				return err
			}
		}
	}
	return nil
}

// orderReq is a requirement as rpm orders by it.
type orderReq struct {
	name string
	pre  bool // needed by %pre or %post (or a legacy PreReq)
}

type pkgInfo struct {
	nevra    string
	name     string
	path     string
	provides []string
	requires []string
	ordering []orderReq // the requires rpm orders by
	files    []string
	symlinks []string // the files that are symlinks
}

func readHeaders(in []Package) ([]*pkgInfo, error) {
	var out []*pkgInfo
	for _, p := range in {
		f, err := os.Open(p.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.NEVRA, err)
		}
		h, err := header.Read(bufio.NewReader(f))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", p.NEVRA, p.Path, err)
		}
		info := &pkgInfo{nevra: p.NEVRA, name: h.Header.Name(), path: p.Path}
		prov, err := h.Header.Provides()
		if err != nil {
			return nil, fmt.Errorf("%s: provides: %w", p.NEVRA, err)
		}
		for _, d := range prov {
			info.provides = append(info.provides, d.Name)
		}
		req, err := h.Header.Requires()
		if err != nil {
			return nil, fmt.Errorf("%s: requires: %w", p.NEVRA, err)
		}
		for _, d := range req {
			if d.Sense&header.SenseRPMLib != 0 || strings.HasPrefix(d.Name, "rpmlib(") || strings.HasPrefix(d.Name, "(") {
				continue
			}
			info.requires = append(info.requires, d.Name)
			// As rpm's tsort (order.c, addRelation): dependencies of
			// %pretrans and %posttrans, and config() ones, say nothing
			// about order; those of %pre and %post are the strong ones.
			if d.Sense&(header.SensePreTrans|header.SensePostTrans|header.SenseConfig) == 0 {
				info.ordering = append(info.ordering, orderReq{d.Name, d.Pre})
			}
		}
		base, _ := h.Header.Strings(header.TagBaseNames)
		dirs, _ := h.Header.Strings(header.TagDirNames)
		idx, _ := h.Header.Uint32s(header.TagDirIndexes)
		modes, _ := h.Header.Uint16s(header.TagFileModes)
		for i, b := range base {
			if i < len(idx) && int(idx[i]) < len(dirs) {
				f := dirs[idx[i]] + b
				info.files = append(info.files, f)
				if i < len(modes) && modes[i]&0o170000 == 0o120000 {
					info.symlinks = append(info.symlinks, f)
				}
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// capabilities maps what the locked packages provide (names, provides,
// file paths) to the package providing it, the first one in lock order.
type capabilities map[string]*pkgInfo

func indexCapabilities(pkgs []*pkgInfo) capabilities {
	byCap := capabilities{}
	for _, p := range pkgs {
		byCap[p.name] = p
		for _, c := range p.provides {
			if _, ok := byCap[c]; !ok {
				byCap[c] = p
			}
		}
		for _, f := range p.files {
			if _, ok := byCap[f]; !ok {
				byCap[f] = p
			}
		}
	}
	return byCap
}

// provider returns the package satisfying the plain requirement r.
func (c capabilities) provider(r string) (*pkgInfo, bool) {
	q, ok := c[r]
	if !ok && strings.HasPrefix(r, "/") {
		// A file dependency through a symlinked directory
		// (/bin/sh provided as /usr/bin/sh).
		q, ok = c[path.Join("/usr", r)]
	}
	return q, ok
}

// toolsClosure is "rpm" and everything it requires, among the locked
// packages, in the order they must be unpacked (unpackOrder). Rich
// dependencies are skipped: rpm's own runtime needs are plain ones in
// every distribution kiln targets.
func toolsClosure(pkgs []*pkgInfo) ([]*pkgInfo, error) {
	byCap := indexCapabilities(pkgs)
	root, ok := byCap["rpm"]
	if !ok {
		return nil, errors.New(`the locked packages have no "rpm": kiln installs with the target's own rpm, so add rpm to the profile's packages`)
	}
	seen := map[*pkgInfo]bool{}
	var closure []*pkgInfo
	queue := []*pkgInfo{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		closure = append(closure, p)
		for _, r := range p.requires {
			if q, ok := byCap.provider(r); ok && !seen[q] {
				queue = append(queue, q)
			}
		}
	}
	return unpackOrder(closure), nil
}

// unpackOrder orders packages as rpm orders a transaction, so that
// unpacking them one after another builds the tree rpm would: a package
// comes after the packages it requires (rpm's tsort), and after any package
// shipping a symlink its files live under. The second rule is what rpm gets
// from its dependencies and an unpack cannot do without: on EL7 /lib64 is
// filesystem's symlink to usr/lib64, and glibc's /lib64/libc.so.6 unpacked
// first would make /lib64 a directory filesystem's symlink cannot replace.
//
// Requirement loops (common: glibc, bash and the libraries between) are
// broken as rpm breaks them: plain requirements are dropped before those
// of %pre and %post scriptlets, symlink rules never; ties go by NEVRA, so
// the order is deterministic.
func unpackOrder(pkgs []*pkgInfo) []*pkgInfo {
	pkgs = append([]*pkgInfo(nil), pkgs...)
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].nevra < pkgs[j].nevra })
	in := map[*pkgInfo]bool{}
	for _, p := range pkgs {
		in[p] = true
	}
	byCap := indexCapabilities(pkgs)
	links := map[string]*pkgInfo{}
	for _, p := range pkgs {
		for _, l := range p.symlinks {
			if _, ok := links[l]; !ok {
				links[l] = p
			}
		}
	}
	// Edge strengths, strongest first; a loop is broken by dropping the
	// weakest edges.
	const (
		symlinkEdge = iota
		preEdge
		plainEdge
		edgeKinds
	)
	before := map[*pkgInfo]map[*pkgInfo]int{} // what must come first, how strongly
	after := map[*pkgInfo][]*pkgInfo{}
	for _, p := range pkgs {
		before[p] = map[*pkgInfo]int{}
	}
	add := func(first, then *pkgInfo, kind int) {
		if first == then || !in[first] {
			return
		}
		k, ok := before[then][first]
		if !ok {
			after[first] = append(after[first], then)
		}
		if !ok || kind < k {
			before[then][first] = kind
		}
	}
	for _, p := range pkgs {
		for _, f := range p.files {
			for d := path.Dir(f); d != "/" && d != "."; d = path.Dir(d) {
				if q, ok := links[d]; ok {
					add(q, p, symlinkEdge)
				}
			}
		}
		for _, r := range p.ordering {
			if q, ok := byCap.provider(r.name); ok {
				kind := plainEdge
				if r.pre {
					kind = preEdge
				}
				add(q, p, kind)
			}
		}
	}
	scc := components(pkgs, after)
	// score counts the edges still to be satisfied, by kind; ok is false
	// when one comes from outside p's loop, which must be placed first.
	score := func(p *pkgInfo) (s [edgeKinds]int, ok bool) {
		for q, k := range before[p] {
			if scc[q] != scc[p] {
				return s, false
			}
			s[k]++
		}
		return s, true
	}
	less := func(a, b [edgeKinds]int) bool {
		for k := range a {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	}
	placed := map[*pkgInfo]bool{}
	var order []*pkgInfo
	for len(order) < len(pkgs) {
		// The first unplaced package, by NEVRA, with nothing left to
		// come before it; if every one left is held up by a loop, the
		// loop member with the weakest edges left.
		var pick *pkgInfo
		var best [edgeKinds]int
		for _, p := range pkgs {
			if placed[p] {
				continue
			}
			s, ok := score(p)
			if !ok {
				continue
			}
			if pick == nil || less(s, best) {
				pick, best = p, s
			}
			if s == [edgeKinds]int{} {
				break
			}
		}
		placed[pick] = true
		order = append(order, pick)
		for _, q := range after[pick] {
			delete(before[q], pick)
		}
	}
	return order
}

// components numbers the strongly connected components of the graph
// (Tarjan's algorithm): packages with the same number are in one loop.
func components(pkgs []*pkgInfo, after map[*pkgInfo][]*pkgInfo) map[*pkgInfo]int {
	index, low := map[*pkgInfo]int{}, map[*pkgInfo]int{}
	onStack := map[*pkgInfo]bool{}
	var stack []*pkgInfo
	comp := map[*pkgInfo]int{}
	var visit func(p *pkgInfo)
	visit = func(p *pkgInfo) {
		index[p], low[p] = len(index), len(index)
		stack = append(stack, p)
		onStack[p] = true
		for _, q := range after[p] {
			if _, seen := index[q]; !seen {
				visit(q)
				low[p] = min(low[p], low[q])
			} else if onStack[q] {
				low[p] = min(low[p], index[q])
			}
		}
		if low[p] == index[p] {
			n := len(comp)
			for {
				q := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[q] = false
				comp[q] = n
				if q == p {
					break
				}
			}
		}
	}
	for _, p := range pkgs {
		if _, seen := index[p]; !seen {
			visit(p)
		}
	}
	return comp
}

func unpack(ctx context.Context, p *pkgInfo, dir string) error {
	f, err := os.Open(p.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	h, err := header.Read(r)
	if err != nil {
		return err
	}
	_, err = payload.Extract(ctx, r, h.Header, dir, payload.Options{})
	return err
}

// ScriptletFailure is a scriptlet rpm reported as failed. rpm goes on
// after a failed %post, %posttrans or trigger (only a failed %pre stops a
// package), so these are easy to miss and Install reports them.
type ScriptletFailure struct {
	Scriptlet string `json:"scriptlet"` // %post, %posttrans, %triggerin...
	Package   string `json:"package"`   // the NEVRA rpm names
	Detail    string `json:"detail"`    // "exit status 3", the Lua error...
}

func (f ScriptletFailure) String() string {
	return fmt.Sprintf("%s scriptlet of %s failed: %s", f.Scriptlet, f.Package, f.Detail)
}

// ScriptletError is Install's error when Options.StrictScriptlets is set
// and a scriptlet failed.
type ScriptletError struct {
	Failures []ScriptletFailure
}

func (e *ScriptletError) Error() string {
	var s []string
	for _, f := range e.Failures {
		s = append(s, f.String())
	}
	return "failed scriptlets (strict): " + strings.Join(s, "; ")
}

// What rpm (4.11 to 4.19) prints when a scriptlet fails: a shell one
// ("warning: %post(NEVRA) scriptlet failed, exit status 3"; "error:" for
// %pre and %preun) and a Lua one, named by its chunk. Matched anywhere in
// a line: rpm's stdout and stderr are separate pipes, and a chunk of one
// (rpm's stdout is block-buffered) can end mid-line just before the
// warning arrives on the other.
var (
	scriptletFailed = regexp.MustCompile(`(?:warning|error): (%[a-z]+)\(([^()\s]+)\) scriptlet failed, (.+)$`)
	luaFailed       = regexp.MustCompile(`error: lua script failed: \[string "(%[a-z]+)\(([^()\s]+)\)"\]:\d+: (.+)$`)
)

// scriptletFailures reads rpm's output for failed scriptlets, in order,
// each once.
func scriptletFailures(out string) []ScriptletFailure {
	var fs []ScriptletFailure
	seen := map[[2]string]bool{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		m := scriptletFailed.FindStringSubmatch(l)
		if m == nil {
			m = luaFailed.FindStringSubmatch(l)
		}
		if m == nil || seen[[2]string{m[1], m[2]}] {
			continue
		}
		seen[[2]string{m[1], m[2]}] = true
		fs = append(fs, ScriptletFailure{Scriptlet: m[1], Package: normalizeEpoch(m[2]), Detail: m[3]})
	}
	return fs
}
