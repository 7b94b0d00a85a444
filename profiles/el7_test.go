package profiles_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/resolve"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest/el7"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/profiles"
)

// absentEL7 are the CentOS 7.9 packages the centos7 profile's closure
// needs that ../shared/el7-real does not hold (its README: nothing of
// 4 MiB or more, and not every smaller package either), each with what the
// real packages in the set require of it. Only these may be stand-ins.
var absentEL7 = []*rpmtest.Package{
	{Name: "kernel", Version: "3.10.0", Release: "1160.el7", Arch: "x86_64"},
	{Name: "systemd", Version: "219", Release: "78.el7_9.3", Arch: "x86_64",
		Provides: rpmtest.Deps("systemd-units = 219-78.el7_9.3", "udev = 219", "/bin/systemctl", "/usr/bin/systemctl")},
	{Name: "selinux-policy-targeted", Version: "3.13.1", Release: "268.el7_9.2", Arch: "noarch"},
	{Name: "cloud-utils-growpart", Version: "0.29", Release: "5.el7", Arch: "noarch"},
	{Name: "glibc-common", Version: "2.17", Release: "324.el7_9", Arch: "x86_64"},
	{Name: "binutils", Version: "2.27", Release: "44.base.el7_9.1", Arch: "x86_64", Provides: rpmtest.Deps("/usr/bin/nm")},
	{Name: "python-libs", Version: "2.7.5", Release: "89.el7", Arch: "x86_64",
		Provides: rpmtest.Deps("libpython2.7.so.1.0()(64bit)", "python-libs(x86-64) = 2.7.5-89.el7")},
}

// standinRepo writes absentEL7 as an unsigned repository of labelled
// stand-ins: empty packages whose Summary says what they are.
func standinRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "standins")
	if err := os.MkdirAll(filepath.Join(dir, "Packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	var pkgs []*repo.Package
	for _, s := range absentEL7 {
		p := *s
		p.Summary = "stand-in for CentOS 7's " + s.Name + " (not in ../shared/el7-real): empty, unsigned"
		data, err := p.Build(rpmtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Packages", p.FileName()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p.RepoPackage(data))
	}
	if err := rpmtest.WriteRepo(dir, pkgs, rpmtest.RepoOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The centos7 profile's package set resolves, with kiln's own resolver and
// no network, against the repodata of real CentOS 7.9 packages (signed,
// gpgcheck on with the CentOS 7 key): every package it names exists in
// CentOS 7 by that name, and the closure of real dependencies is
// satisfiable. The profile's vault.centos.org repositories are pointed at
// the local copy; what the copy lacks comes from labelled stand-ins, and
// only what absentEL7 lists may. A stand-in requires nothing, so the
// closure of what they would pull in (systemd's dbus, the kernel's
// linux-firmware, ...) is not checked here.
//
// centos7-k8s adds docker-ce, containerd.io and the kube packages, which
// no local repository holds (and conntrack-tools, ipvsadm, socat and
// container-selinux, which the real set lacks): that part is checked only
// by Validate, and by `kiln lock centos7-k8s` where the network reaches
// vault.centos.org, download.docker.com and pkgs.k8s.io.
func TestCentOS7ResolvesAgainstRealCentOS79(t *testing.T) {
	dir := el7.Dir(t)
	key := filepath.Join(filepath.Dir(dir), "RPM-GPG-KEY-CentOS-7")
	p, err := spec.Load("centos7", spec.LoadOptions{Builtin: profiles.FS()})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range absentEL7 {
		if real, _ := filepath.Glob(filepath.Join(dir, a.Name+"-[0-9]*.rpm")); len(real) > 0 {
			t.Fatalf("absentEL7 lists %s, but %s is real: a stand-in must not hide it", a.Name, real[0])
		}
	}
	off := false
	// The local copy mixes base and updates in one repository; there is no
	// local extras, which the OS set does not use.
	p.Repos = []spec.Repo{
		{Name: "base", BaseURL: spec.StringList{"file://" + dir}, GPGKey: spec.StringList{key}},
		{Name: "standins", BaseURL: spec.StringList{"file://" + standinRepo(t)}, GPGCheck: &off},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := resolve.Resolve(context.Background(), p, resolve.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("resolving centos7 against %s: %v", dir, err)
	}
	var real, standins []string
	for _, rp := range res.Packages {
		if rp.Repo == "standins" {
			standins = append(standins, rp.Name)
		} else {
			real = append(real, rp.Name)
		}
	}
	for _, s := range p.Packages {
		name := spec.PackageSpecName(s)
		if !slices.Contains(real, name) && !slices.Contains(standins, name) {
			t.Errorf("the profile's %q resolved to no package of that name", s)
		}
	}
	t.Logf("centos7: %d real CentOS 7.9 packages, stand-ins for %s", len(real), strings.Join(standins, ", "))
}
