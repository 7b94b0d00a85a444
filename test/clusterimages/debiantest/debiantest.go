// Package debiantest writes stand-in installed Debian trees for tests: a
// merged-/usr layout (bin -> usr/bin, lib -> usr/lib, lib64 -> usr/lib64,
// sbin -> usr/sbin) with a dpkg database (status, info/*.list,
// alternatives, diversions) describing files whose content says they are
// stand-ins.
//
//	root := debiantest.Cluster(t) // what clusterimages needs
package debiantest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Package is one package in the tree.
type Package struct {
	Name, Version string
	// MultiArch marks a Multi-Arch: same package, whose file list dpkg
	// names NAME:amd64.list.
	MultiArch bool
	// Status defaults to "install ok installed".
	Status                        string
	Depends, PreDepends, Provides string
	Files                         []File
}

// File is one path a package lists. Path is where dpkg records it (often
// through a merged-/usr symlink, /bin/sh); the file is written through
// the symlinks, as dpkg does.
type File struct {
	Path string
	Link string // a symlink to Link; otherwise a regular file
	Exec bool   // mode 0755 instead of 0644
	Dir  bool   // a directory
}

// Alternative is an update-alternatives group: Links maps each name
// (master first) to its link; Chosen maps each name to its target.
type Alternative struct {
	Master string
	Links  [][2]string // name, link path; the master first
	Chosen map[string]string
}

// Diversion is one dpkg-divert entry.
type Diversion struct{ From, To, By string }

// Write creates the tree under root.
func Write(tb testing.TB, root string, pkgs []Package, alts []Alternative, divs []Diversion) {
	tb.Helper()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc/alternatives", "var/lib/dpkg/info", "var/lib/dpkg/alternatives"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		must(os.Symlink("usr/"+l, filepath.Join(root, l)))
	}
	var status strings.Builder
	for _, p := range pkgs {
		st := p.Status
		if st == "" {
			st = "install ok installed"
		}
		fmt.Fprintf(&status, "Package: %s\nStatus: %s\nPriority: optional\nArchitecture: amd64\n", p.Name, st)
		if p.MultiArch {
			status.WriteString("Multi-Arch: same\n")
		}
		fmt.Fprintf(&status, "Version: %s\n", p.Version)
		for _, f := range [][2]string{{"Provides", p.Provides}, {"Pre-Depends", p.PreDepends}, {"Depends", p.Depends}} {
			if f[1] != "" {
				fmt.Fprintf(&status, "%s: %s\n", f[0], f[1])
			}
		}
		fmt.Fprintf(&status, "Description: stand-in %s\n for tests of kiln\n\n", p.Name)

		listed := map[string]bool{"/.": true}
		for _, f := range p.Files {
			for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
				listed[d] = true
			}
			listed[f.Path] = true
			host := filepath.Join(root, f.Path)
			for _, v := range divs {
				if v.From == f.Path && v.By != p.Name {
					host = filepath.Join(root, v.To)
				}
			}
			must(os.MkdirAll(filepath.Dir(host), 0o755))
			switch {
			case f.Dir:
				must(os.MkdirAll(host, 0o755))
				continue
			case f.Link != "":
				must(os.Symlink(f.Link, host))
				continue
			}
			mode := os.FileMode(0o644)
			if f.Exec {
				mode = 0o755
			}
			must(os.WriteFile(host, []byte("stand-in "+f.Path+" of "+p.Name+"\n"), mode))
		}
		if st != "install ok installed" {
			continue
		}
		paths := make([]string, 0, len(listed))
		for p := range listed {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		list := p.Name + ".list"
		if p.MultiArch {
			list = p.Name + ":amd64.list"
		}
		must(os.WriteFile(filepath.Join(root, "var/lib/dpkg/info", list), []byte(strings.Join(paths, "\n")+"\n"), 0o644))
	}
	must(os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status.String()), 0o644))

	for _, a := range alts {
		lines := []string{"auto", a.Links[0][1]}
		for _, l := range a.Links[1:] {
			lines = append(lines, l[0], l[1])
		}
		must(os.WriteFile(filepath.Join(root, "var/lib/dpkg/alternatives", a.Master), []byte(strings.Join(lines, "\n")+"\n\n"), 0o644))
		for _, l := range a.Links {
			must(os.Symlink("/etc/alternatives/"+l[0], filepath.Join(root, l[1])))
			must(os.Symlink(a.Chosen[l[0]], filepath.Join(root, "etc/alternatives", l[0])))
		}
	}
	var d strings.Builder
	for _, v := range divs {
		fmt.Fprintf(&d, "%s\n%s\n%s\n", v.From, v.To, v.By)
	}
	must(os.WriteFile(filepath.Join(root, "var/lib/dpkg/diversions"), []byte(d.String()), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(
		"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nhaproxy:x:100:101::/var/lib/haproxy:/usr/sbin/nologin\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/group"), []byte(
		"root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\nhaproxy:x:101:\n"), 0o644))
}

// ClusterPackages are stand-ins for the packages clusterimages takes,
// with the shapes of Debian 12's that matter: libc in /lib and /lib64,
// alternatives for iptables, a virtual debconf-2.0, maintainer-only
// dependencies, and libperl pulling in Perl.
func ClusterPackages() []Package {
	lib := "/lib/x86_64-linux-gnu/"
	ulib := "/usr/lib/x86_64-linux-gnu/"
	return []Package{
		{Name: "libc6", Version: "2.36-9+deb12u10", MultiArch: true, Depends: "libgcc-s1", Files: []File{
			{Path: lib + "libc.so.6"}, {Path: lib + "ld-linux-x86-64.so.2"},
			{Path: "/lib64/ld-linux-x86-64.so.2", Link: lib + "ld-linux-x86-64.so.2"},
			{Path: ulib + "gconv/UTF-16.so"}, {Path: "/usr/share/doc/libc6/copyright"},
		}},
		{Name: "libgcc-s1", Version: "12.2.0-14", MultiArch: true, Depends: "libc6 (>= 2.35)", Files: []File{{Path: lib + "libgcc_s.so.1"}}},
		{Name: "libnftnl11", Version: "1.2.4-2", MultiArch: true, Depends: "libc6:any (>= 2.14)", Files: []File{
			{Path: ulib + "libnftnl.so.11.6.0"}, {Path: ulib + "libnftnl.so.11", Link: "libnftnl.so.11.6.0"},
		}},
		{Name: "netbase", Version: "6.4", Files: []File{{Path: "/etc/protocols"}}},
		{Name: "iptables", Version: "1.8.9-2", Depends: "libnftnl11 (>= 1.1.5), netbase (>= 6.0), libc6 (>= 2.34)", Files: []File{
			{Path: "/usr/sbin/xtables-nft-multi", Exec: true},
			{Path: "/usr/sbin/iptables-nft", Link: "xtables-nft-multi"},
			{Path: "/usr/sbin/iptables-nft-restore", Link: "xtables-nft-multi"},
			{Path: "/usr/sbin/xtables-legacy-multi", Exec: true},
			{Path: "/usr/sbin/iptables-legacy", Link: "xtables-legacy-multi"},
			{Path: ulib + "xtables/libxt_conntrack.so"},
			{Path: "/usr/share/man/man8/iptables.8.gz"},
		}},
		{Name: "conntrack", Version: "1:1.4.7-1+b2", Depends: "libc6 (>= 2.34)", Files: []File{{Path: "/usr/sbin/conntrack", Exec: true}}},
		{Name: "busybox", Version: "1:1.35.0-4+deb12u1+b1", Depends: "libc6 (>= 2.34)", Files: []File{{Path: "/bin/busybox", Exec: true}}},
		{Name: "adduser", Version: "3.134", Files: []File{{Path: "/usr/sbin/adduser", Exec: true}}},
		{Name: "dpkg", Version: "1.21.22", Files: []File{{Path: "/usr/bin/dpkg", Exec: true}}},
		{Name: "debconf", Version: "1.5.82", Provides: "debconf-2.0", Files: []File{{Path: "/usr/bin/debconf", Exec: true}}},
		{Name: "haproxy", Version: "2.6.12-1+deb12u3", PreDepends: "dpkg (>= 1.17.14)", Depends: "libc6 (>= 2.34), adduser", Files: []File{
			{Path: "/usr/sbin/haproxy", Exec: true}, {Path: "/etc/haproxy/haproxy.cfg"}, {Path: "/usr/share/doc/haproxy/README"},
		}},
		{Name: "perl-base", Version: "5.36.0-7+deb12u2", Files: []File{{Path: "/usr/bin/perl", Exec: true}}},
		{Name: "perl-modules-5.36", Version: "5.36.0-7+deb12u2", Depends: "perl-base", Files: []File{{Path: "/usr/share/perl/5.36/strict.pm"}}},
		{Name: "libperl5.36", Version: "5.36.0-7+deb12u2", MultiArch: true, Depends: "perl-modules-5.36", Files: []File{
			{Path: ulib + "libperl.so.5.36"}, {Path: ulib + "perl/5.36.0/Encode.so"}, {Path: "/usr/bin/perl5.36-x86_64-linux-gnu", Exec: true},
		}},
		{Name: "libsnmp40", Version: "5.9.3+dfsg-2", MultiArch: true, Depends: "libc6, libperl5.36 (>= 5.36.0)", Files: []File{{Path: ulib + "libnetsnmpagent.so.40"}}},
		{Name: "iproute2", Version: "6.1.0-3", Depends: "debconf (>= 0.5) | debconf-2.0, libc6 (>= 2.34)", Files: []File{{Path: "/bin/ip", Exec: true}}},
		{Name: "keepalived", Version: "1:2.2.7-1+b2", PreDepends: "init-system-helpers (>= 1.54~)", Depends: "iproute2, libc6 (>= 2.34), libsnmp40 (>= 5.9.3+dfsg)", Files: []File{
			{Path: "/usr/sbin/keepalived", Exec: true}, {Path: "/etc/keepalived", Dir: true},
		}},
		{Name: "curl", Version: "7.88.1-10+deb12u15", Depends: "libc6 (>= 2.34)", Files: []File{{Path: "/usr/bin/curl", Exec: true}}},
		{Name: "dash", Version: "0.5.12-2", Files: []File{{Path: "/bin/dash", Exec: true}, {Path: "/bin/sh", Link: "dash"}}},
		{Name: "coreutils", Version: "9.1-1", Depends: "libc6 (>= 2.34)", Files: []File{{Path: "/usr/bin/cat", Exec: true}, {Path: "/usr/bin/sleep", Exec: true}}},
		{Name: "libc-bin", Version: "2.36-9+deb12u10", Depends: "libc6 (>> 2.36)", Files: []File{{Path: "/usr/bin/getent", Exec: true}}},
		{Name: "grep", Version: "3.8-5", Depends: "libc6 (>= 2.34)", Files: []File{{Path: "/bin/grep", Exec: true}, {Path: "/bin/egrep", Exec: true}}},
		{Name: "init-system-helpers", Version: "1.65.2", Depends: "perl-base", Files: []File{{Path: "/usr/bin/deb-systemd-helper", Exec: true}}},
		{Name: "oldpkg", Version: "1.0", Status: "deinstall ok config-files", Files: []File{{Path: "/etc/oldpkg.conf"}}},
	}
}

// Cluster writes the tree clusterimages needs into a new temporary
// directory and returns it: ClusterPackages, the iptables alternatives
// chosen as Debian 12 does (nft), and grep's /bin/egrep diverted.
func Cluster(tb testing.TB) string {
	root := tb.TempDir()
	Write(tb, root, ClusterPackages(), []Alternative{{
		Master: "iptables",
		Links:  [][2]string{{"iptables", "/usr/sbin/iptables"}, {"iptables-restore", "/usr/sbin/iptables-restore"}},
		Chosen: map[string]string{"iptables": "/usr/sbin/iptables-nft", "iptables-restore": "/usr/sbin/iptables-nft-restore"},
	}}, []Diversion{{From: "/bin/egrep", To: "/bin/egrep.distrib", By: "dash"}})
	return root
}
