package rpmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// GenerateDistro returns n (at least 4) synthetic binary packages shaped like a
// CentOS Stream 9 BaseOS+AppStream repository, the same for the same seed.
// It is metadata only (no RPM files) for solver tests and benchmarks;
// write it with WriteRepo.
//
// The shape, per package on average: 10 provides, 15 requires, 30 files
// (a few in primary), a summary of 40-120 characters. Of the packages:
//   - 30% libraries "libNAME" (x86_64, a tenth also as i686 multilib)
//     providing sonames "libNAME.so.N()(64bit)" with symbol versions;
//   - 35% applications (x86_64) with /usr/bin and /etc files, requiring
//     sonames, "/bin/sh" (often pre="1") and versioned library names;
//   - 20% noarch "python3-NAME" requiring "python(abi) = 3.9" and
//     python3dist(...) of other Python packages;
//   - 15% "-devel" packages requiring their library with an exact
//     "NAME(x86-64) = EVR" and providing pkgconfig(NAME).
//
// Also: every 10th package also exists in an older version; 2% obsolete
// and provide an old name; 1% conflict with another package; 3% carry a
// rich dependency ("(A if B)", "(A or B)"); 10% recommend, 5% suggest, 3%
// supplement something; 1% require a file only filelists has; 5% have a
// non-zero epoch. Dependencies point mostly at packages generated earlier
// (lower layers) and sometimes later, so there are cycles as in real
// distributions. Packages "glibc", "bash", "python3" and
// "python3-libs" anchor the base. Every dependency is satisfiable.
func GenerateDistro(seed uint64, n int) []*repo.Package {
	if n < 4 {
		n = 4
	}
	g := &distroGen{rng: rand.New(rand.NewPCG(seed, seed^0x6b696c6e))}
	return g.generate(n)
}

type distroKind uint8

const (
	kindLib distroKind = iota
	kindApp
	kindPython
	kindDevel
)

type distroGen struct {
	rng  *rand.Rand
	pkgs []*repo.Package
	kind []distroKind
	libs []int // indexes of library packages
	pys  []int // indexes of python packages
	// soname of each library package, by index
	soname map[int]string
	// a filelists-only path of each package, by index
	deepFile map[int]string
}

var distroWords = strings.Fields(`acl attr audit augeas bind bzip2 cairo chrony cpio cracklib cronie cups curl cyrus dbus
device elfutils expat file findutils fontconfig freetype gawk gdbm gettext glib gmp gnutls gpgme grep groff gzip harfbuzz
hwdata iproute iptables json kbd kmod krb5 less libarchive libcap libffi libgcrypt libidn libpng libseccomp libssh libuser
libxml2 libxslt logrotate lua lz4 lzo mpfr ncurses nettle newt nspr nss openldap openssl p11 pam pcre perl pixman popt
procps psmisc readline rpm sed shadow sqlite sudo systemd tar tcl texinfo tzdata userspace util vim which xz zlib zstd`)

var summaryWords = strings.Fields(`a an the library for and of tools utilities to with support files development
command line interface daemon service configuration data bindings module implementation runtime shared common
extensions plugins documentation manipulating managing network secure fast portable compression parsing`)

func (g *distroGen) word() string { return distroWords[g.rng.IntN(len(distroWords))] }

func (g *distroGen) evr() version.EVR {
	e := version.EVR{
		Version: fmt.Sprintf("%d.%d.%d", g.rng.IntN(10), g.rng.IntN(30), g.rng.IntN(20)),
		Release: fmt.Sprintf("%d.el9", 1+g.rng.IntN(40)),
	}
	if g.rng.IntN(20) == 0 {
		e.Epoch = uint32(1 + g.rng.IntN(3))
	}
	return e
}

func (g *distroGen) summary() string {
	var b strings.Builder
	target := 40 + g.rng.IntN(80)
	for b.Len() < target {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(summaryWords[g.rng.IntN(len(summaryWords))])
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

// lowBiased picks an index in [0, n), mostly low ones: lower layers are
// depended on more.
func (g *distroGen) lowBiased(n int) int {
	u := g.rng.Float64()
	return int(float64(n) * u * u * u)
}

func depEQ(name string, e version.EVR) repo.Dep { return repo.Dep{Name: name, Flags: repo.EQ, EVR: e} }
func depAny(name string) repo.Dep               { return repo.Dep{Name: name} }
func depGE(name string, e version.EVR) repo.Dep { return repo.Dep{Name: name, Flags: repo.GE, EVR: e} }
func depPre(name string) repo.Dep               { return repo.Dep{Name: name, Pre: true} }
func depLT(name string, ev version.EVR) repo.Dep {
	return repo.Dep{Name: name, Flags: repo.LT, EVR: ev}
}

func (g *distroGen) newPkg(name, arch string, kind distroKind) *repo.Package {
	e := g.evr()
	p := &repo.Package{
		Name:          name,
		Arch:          arch,
		EVR:           e,
		Summary:       g.summary(),
		License:       []string{"GPL-2.0-or-later", "MIT", "LGPL-2.1-or-later", "BSD-3-Clause", "Apache-2.0"}[g.rng.IntN(5)],
		URL:           "https://example.org/" + name,
		Size:          int64(10000 + g.rng.IntN(2000000)),
		InstalledSize: int64(30000 + g.rng.IntN(8000000)),
		BuildTime:     int64(1690000000 + g.rng.IntN(30000000)),
		HeaderStart:   4504,
		HeaderEnd:     int64(8000 + g.rng.IntN(90000)),
	}
	p.SourceRPM = name + "-" + e.Version + "-" + e.Release + ".src.rpm"
	p.Provides = append(p.Provides, depEQ(name, e))
	if arch != "noarch" {
		p.Provides = append(p.Provides, depEQ(name+"("+archTag(arch)+")", e))
	}
	g.pkgs = append(g.pkgs, p)
	g.kind = append(g.kind, kind)
	return p
}

func archTag(arch string) string {
	if arch == "i686" {
		return "x86-32"
	}
	return "x86-64"
}

func (g *distroGen) generate(n int) []*repo.Package {
	g.soname = map[int]string{}
	g.deepFile = map[int]string{}
	// Base anchors, depended on by everything else.
	glibc := g.newPkg("glibc", "x86_64", kindLib)
	glibc.Provides = append(glibc.Provides, depAny("libc.so.6()(64bit)"), depAny("libc.so.6(GLIBC_2.34)(64bit)"), depAny("rtld(GNU_HASH)"), depAny("libm.so.6()(64bit)"))
	glibc.Files = []string{"/etc/ld.so.conf", "/usr/lib64/libc.so.6", "/usr/lib64/libm.so.6", "/usr/sbin/ldconfig"}
	g.soname[0] = "libc.so.6()(64bit)"
	g.libs = append(g.libs, 0)
	bash := g.newPkg("bash", "x86_64", kindApp)
	bash.Provides = append(bash.Provides, depAny("/bin/sh"), depAny("/bin/bash"))
	bash.Requires = []repo.Dep{depAny("libc.so.6()(64bit)"), depAny("libc.so.6(GLIBC_2.34)(64bit)")}
	bash.Files = []string{"/usr/bin/bash", "/usr/bin/sh", "/etc/skel/.bashrc", "/usr/share/doc/bash/README"}
	glibc.Requires = []repo.Dep{depPre("/bin/sh"), depAny("/usr/sbin/ldconfig")}
	py := g.newPkg("python3", "x86_64", kindApp)
	py.EVR = version.EVR{Version: "3.9.18", Release: "3.el9"}
	py.Provides = []repo.Dep{depEQ("python3", py.EVR), depEQ("python3(x86-64)", py.EVR), depEQ("python(abi)", version.EVR{Version: "3.9"}), depAny("/usr/bin/python3")}
	pylibs := g.newPkg("python3-libs", "x86_64", kindLib)
	pylibs.EVR = py.EVR
	pylibs.Provides = []repo.Dep{depEQ("python3-libs", py.EVR), depEQ("python3-libs(x86-64)", py.EVR), depAny("libpython3.9.so.1.0()(64bit)")}
	py.Requires = []repo.Dep{depEQ("python3-libs(x86-64)", py.EVR), depAny("libpython3.9.so.1.0()(64bit)"), depAny("libc.so.6()(64bit)")}
	pylibs.Requires = []repo.Dep{depEQ("python3", py.EVR), depAny("libc.so.6()(64bit)")} // a cycle, as in CentOS
	py.Files = []string{"/usr/bin/python3", "/usr/bin/python3.9"}
	pylibs.Files = []string{"/usr/lib64/libpython3.9.so.1.0", "/usr/lib64/python3.9/os.py"}
	g.soname[3] = "libpython3.9.so.1.0()(64bit)"
	g.libs = append(g.libs, 3)

	// m newest packages plus one older version of every 10th of them
	// (indexes 10, 20, ...) make n.
	m := n
	for m > 4 && m-1+(m-2)/10 >= n {
		m--
	}
	for i := len(g.pkgs); len(g.pkgs) < m; i++ {
		base := fmt.Sprintf("%s%d", g.word(), i)
		r := g.rng.IntN(100)
		switch {
		case r < 30:
			g.library(base)
		case r < 65:
			g.app(base)
		case r < 85:
			g.python(base)
		default:
			// A -devel package needs a library: make one.
			g.library(base)
			if len(g.pkgs) < m {
				g.devel(len(g.pkgs) - 1)
			}
		}
	}
	g.pkgs = g.pkgs[:min(m, len(g.pkgs))]
	g.kind = g.kind[:len(g.pkgs)]
	for i := 4; i < len(g.pkgs); i++ {
		g.requires(i)
	}
	g.extras()
	g.pkgs = g.pkgs[:min(n, len(g.pkgs))]
	for _, p := range g.pkgs {
		// rpmbuild never writes a dependency twice.
		for _, l := range []*[]repo.Dep{&p.Provides, &p.Requires, &p.Conflicts, &p.Obsoletes, &p.Recommends, &p.Suggests, &p.Supplements, &p.Enhances} {
			*l = dedupDeps(*l)
		}
		sum := sha256.Sum256([]byte(p.NEVRA()))
		p.Checksum = repo.Checksum{Type: "sha256", Value: hex.EncodeToString(sum[:])}
		p.Location = "Packages/" + p.Name[:1] + "/" + p.NEVRA() + ".rpm"
	}
	return g.pkgs
}

func (g *distroGen) library(base string) {
	name := "lib" + base
	p := g.newPkg(name, "x86_64", kindLib)
	major := 1 + g.rng.IntN(5)
	so := fmt.Sprintf("%s.so.%d", name, major)
	g.soname[len(g.pkgs)-1] = so + "()(64bit)"
	g.deepFile[len(g.pkgs)-1] = "/usr/lib64/" + so
	g.libs = append(g.libs, len(g.pkgs)-1)
	p.Provides = append(p.Provides, depAny(so+"()(64bit)"))
	for v := 0; v < 4+g.rng.IntN(10); v++ {
		p.Provides = append(p.Provides, depAny(fmt.Sprintf("%s(%s_%d.%d)(64bit)", so, strings.ToUpper(base), major, v)))
	}
	p.Files = []string{"/usr/lib64/" + so, fmt.Sprintf("/usr/lib64/%s.%d.0", so, g.rng.IntN(9)), "/usr/share/licenses/" + name + "/COPYING"}
	p.Files = append(p.Files, g.docFiles(name, 5+g.rng.IntN(20))...)
	if g.rng.IntN(10) == 0 {
		// Multilib: the same library for i686.
		q := *p
		q.Arch = "i686"
		q.Provides = []repo.Dep{depEQ(name, p.EVR), depEQ(name+"(x86-32)", p.EVR), depAny(so)}
		q.Files = []string{"/usr/lib/" + so}
		g.pkgs = append(g.pkgs, &q)
		g.kind = append(g.kind, kindLib)
	}
}

func (g *distroGen) docFiles(name string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("/usr/share/doc/%s/%s-%d.txt", name, g.word(), i)
	}
	return out
}

func (g *distroGen) app(base string) {
	p := g.newPkg(base, "x86_64", kindApp)
	p.Files = []string{"/usr/bin/" + base, "/usr/share/man/man1/" + base + ".1.gz"}
	if g.rng.IntN(3) == 0 {
		p.Files = append(p.Files, "/etc/"+base+".conf")
		p.Provides = append(p.Provides, depEQ("config("+base+")", p.EVR))
		p.Requires = append(p.Requires, depEQ("config("+base+")", p.EVR))
	}
	if g.rng.IntN(4) == 0 {
		p.Files = append(p.Files, "/usr/sbin/"+base+"d", "/usr/lib/systemd/system/"+base+".service")
	}
	p.Files = append(p.Files, g.docFiles(base, 10+g.rng.IntN(40))...)
	g.deepFile[len(g.pkgs)-1] = "/usr/share/man/man1/" + base + ".1.gz"
	for k := 0; k < 5+g.rng.IntN(8); k++ {
		p.Provides = append(p.Provides, depAny(fmt.Sprintf("bundled(%s-%s)", g.word(), base)))
	}
}

func (g *distroGen) python(base string) {
	p := g.newPkg("python3-"+base, "noarch", kindPython)
	g.pys = append(g.pys, len(g.pkgs)-1)
	v := version.EVR{Version: p.EVR.Version}
	p.Provides = append(p.Provides,
		depEQ("python3.9-"+base, p.EVR), depEQ("python-"+base, p.EVR),
		depEQ("python3dist("+base+")", v), depEQ("python3.9dist("+base+")", v))
	p.Requires = append(p.Requires, depEQ("python(abi)", version.EVR{Version: "3.9"}))
	p.Files = []string{"/usr/lib/python3.9/site-packages/" + base + "/__init__.py"}
	for k := 0; k < 5+g.rng.IntN(30); k++ {
		p.Files = append(p.Files, fmt.Sprintf("/usr/lib/python3.9/site-packages/%s/%s%d.py", base, g.word(), k))
	}
	g.deepFile[len(g.pkgs)-1] = p.Files[0]
}

func (g *distroGen) devel(lib int) {
	l := g.pkgs[lib]
	p := g.newPkg(l.Name+"-devel", "x86_64", kindDevel)
	p.EVR = l.EVR
	p.Provides = []repo.Dep{depEQ(p.Name, p.EVR), depEQ(p.Name+"(x86-64)", p.EVR), depEQ("pkgconfig("+strings.TrimPrefix(l.Name, "lib")+")", version.EVR{Version: l.EVR.Version})}
	p.Requires = append(p.Requires, depEQ(l.Name+"(x86-64)", l.EVR), depAny("/usr/sbin/ldconfig"))
	p.Files = []string{"/usr/include/" + l.Name + ".h", "/usr/lib64/pkgconfig/" + l.Name + ".pc"}
}

// requires fills in the dependencies of package i on other packages.
func (g *distroGen) requires(i int) {
	p := g.pkgs[i]
	if p.Arch == "i686" {
		return // multilib copies need only glibc, which the i686 world lacks here
	}
	switch g.kind[i] {
	case kindPython:
		p.Requires = append(p.Requires, depEQ("python3", g.pkgs[2].EVR))
		for k := 0; k < 6+g.rng.IntN(14); k++ {
			t := g.pys[g.lowBiased(len(g.pys))]
			if t != i {
				name := strings.TrimPrefix(g.pkgs[t].Name, "python3-")
				p.Requires = append(p.Requires, depGE("python3.9dist("+name+")", version.EVR{Version: "0.1"}))
			}
		}
		return
	case kindDevel:
		for k := 0; k < 2+g.rng.IntN(4); k++ {
			t := g.libs[g.lowBiased(len(g.libs))]
			if t > 3 && g.pkgs[t].Arch == "x86_64" {
				p.Requires = append(p.Requires, depAny(g.soname[t]))
			}
		}
		return
	}
	p.Requires = append(p.Requires, depAny("libc.so.6()(64bit)"), depAny("libc.so.6(GLIBC_2.34)(64bit)"), depAny("rtld(GNU_HASH)"))
	if g.rng.IntN(3) == 0 {
		p.Requires = append(p.Requires, depPre("/bin/sh"))
	} else {
		p.Requires = append(p.Requires, depAny("/bin/sh"))
	}
	for k := 0; k < 8+g.rng.IntN(12); k++ {
		t := g.libs[g.lowBiased(len(g.libs))]
		if t != i && g.pkgs[t].Arch == "x86_64" {
			p.Requires = append(p.Requires, depAny(g.soname[t]))
		}
	}
	if g.rng.IntN(2) == 0 {
		t := g.libs[g.lowBiased(len(g.libs))]
		if t != i && g.pkgs[t].Arch == "x86_64" {
			l := g.pkgs[t]
			p.Requires = append(p.Requires, depGE(l.Name, version.EVR{Epoch: l.EVR.Epoch, Version: l.EVR.Version}))
		}
	}
}

// extras adds the rarer shapes: older versions, obsoletes, conflicts,
// rich and weak dependencies, filelists-only file dependencies.
func (g *distroGen) extras() {
	n := len(g.pkgs)
	pick := func() *repo.Package { return g.pkgs[4+g.rng.IntN(n-4)] }
	var older []*repo.Package
	for i := 4; i < n; i++ {
		p := g.pkgs[i]
		r := g.rng.IntN(1000)
		switch {
		case r < 20:
			old := "old-" + p.Name
			p.Obsoletes = append(p.Obsoletes, depLT(old, p.EVR))
			p.Provides = append(p.Provides, depEQ(old, p.EVR))
		case r < 30:
			q := pick()
			if q.Name != p.Name {
				p.Conflicts = append(p.Conflicts, depLT(q.Name, version.EVR{Version: "0.0.0"}))
			}
		case r < 60:
			a, b := pick(), pick()
			if a.Name != p.Name && b.Name != p.Name {
				if g.rng.IntN(2) == 0 {
					p.Requires = append(p.Requires, depAny("("+a.Name+" if "+b.Name+")"))
				} else {
					p.Requires = append(p.Requires, depAny("("+a.Name+" or "+b.Name+")"))
				}
			}
		case r < 70:
			if f, ok := g.deepFile[g.rng.IntN(n)]; ok && !strings.Contains(f, "bin/") {
				p.Requires = append(p.Requires, depAny(f))
			}
		}
		if r%10 == 0 {
			p.Recommends = append(p.Recommends, depAny(pick().Name))
		}
		if r%20 == 1 {
			p.Suggests = append(p.Suggests, depAny(pick().Name))
		}
		if r%33 == 2 {
			p.Supplements = append(p.Supplements, depAny("("+pick().Name+" and langpacks-en)"))
		}
		if i%10 == 0 {
			q := *p
			q.EVR.Release = "0." + q.EVR.Release // sorts older
			for _, l := range []*[]repo.Dep{&q.Provides, &q.Requires, &q.Conflicts, &q.Obsoletes, &q.Recommends, &q.Suggests, &q.Supplements, &q.Enhances} {
				*l = slices.Clone(*l)
			}
			q.Files = slices.Clone(q.Files)
			for k := range q.Provides {
				if q.Provides[k].Flags == repo.EQ && q.Provides[k].EVR == p.EVR {
					q.Provides[k].EVR = q.EVR
				}
			}
			q.SourceRPM = q.Name + "-" + q.EVR.Version + "-" + q.EVR.Release + ".src.rpm"
			older = append(older, &q)
		}
	}
	g.pkgs = append(g.pkgs, older...)
}

func dedupDeps(deps []repo.Dep) []repo.Dep {
	seen := make(map[repo.Dep]bool, len(deps))
	var out []repo.Dep
	for _, d := range deps {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
