package rpmtest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// HostDistro builds the smallest distribution kiln can install and make
// bootable, from the build host's own binaries: a merged-/usr
// "filesystem", the host's rpm with its libraries (standing in for the
// target's rpm; its rpmdb is pointed at /var/lib/rpm), busybox as /bin/sh,
// the host's grub-mkimage with its x86_64-efi and i386-pc modules, a
// "kernel" (a placeholder vmlinuz and an empty modules.dep: it cannot
// boot), a systemctl stand-in that records its arguments, and
// "kiln-test-scripts", whose shell %post and Lua %posttrans leave files
// under /var/lib/kiln-test and which carries a file capability and a hard
// link. Booting real images is the e2e test's job.
//
// It needs ldd, busybox, rpm, grub-mkimage and /usr/lib/grub on the host;
// a missing one is returned as an error naming it.
func HostDistro() ([]*Package, error) {
	var errs []string
	need := func(p string) string {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, p)
		}
		return p
	}
	rpmBin := need("/usr/bin/rpm")
	mkimage := need("/usr/bin/grub-mkimage")
	need("/usr/lib/grub/x86_64-efi")
	need("/usr/lib/grub/i386-pc")
	bb, err := exec.LookPath("busybox")
	if err != nil {
		errs = append(errs, "busybox")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("host distro needs %s", strings.Join(errs, ", "))
	}

	fsys := &Package{Name: "filesystem", Version: "3.16", Release: "2", Arch: "x86_64"}
	for _, d := range []string{"/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu",
		"/etc", "/etc/rpm", "/var", "/var/lib", "/var/lib/rpm", "/var/log", "/tmp", "/dev", "/proc", "/sys", "/run", "/root",
		"/boot", "/home", "/usr/lib/rpm", "/usr/lib/grub", "/usr/lib/modules"} {
		fsys.Files = append(fsys.Files, File{Path: d, Mode: fs.ModeDir | 0o755})
	}
	for _, l := range [][2]string{{"/bin", "usr/bin"}, {"/sbin", "usr/sbin"}, {"/lib", "usr/lib"}, {"/lib64", "usr/lib64"}} {
		fsys.Files = append(fsys.Files, File{Path: l[0], Mode: fs.ModeSymlink | 0o777, Target: l[1]})
	}
	fsys.Files = append(fsys.Files,
		File{Path: "/etc/passwd", Content: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n", Flags: Config},
		File{Path: "/etc/group", Content: "root:x:0:\nwheel:x:10:\nnobody:x:65534:\n", Flags: Config},
		File{Path: "/etc/machine-id", Content: "0123456789abcdef0123456789abcdef\n"},
	)
	// Directories below /lib/modules are owned by the kernel; the order of
	// Files matters only for rpmpack, not rpm.
	sort.SliceStable(fsys.Files, func(i, j int) bool { return fsys.Files[i].Path < fsys.Files[j].Path })

	rpmPkg := &Package{Name: "rpm", Version: "4.18.0", Release: "1", Arch: "x86_64", Requires: Deps("filesystem"),
		Files: []File{{Path: "/etc/rpm/macros.dbpath", Content: "%_dbpath /var/lib/rpm\n"}}}
	if err := addHostFiles(rpmPkg, rpmBin, "/usr/lib/rpm/rpmrc", "/usr/lib/rpm/macros", "/usr/lib/rpm/platform/x86_64-linux/macros"); err != nil {
		return nil, err
	}
	if err := addLibs(rpmPkg, rpmBin); err != nil {
		return nil, err
	}

	data, err := os.ReadFile(bb)
	if err != nil {
		return nil, err
	}
	shell := &Package{Name: "bash", Version: "5.2", Release: "1", Arch: "x86_64", Requires: Deps("filesystem"),
		Provides: Deps("/bin/sh"), Files: []File{{Path: "/usr/bin/busybox", Mode: 0o755, Content: string(data)}}}
	for _, app := range []string{"sh", "mkdir", "cat", "echo", "ls", "useradd"} {
		shell.Files = append(shell.Files, File{Path: "/usr/bin/" + app, Mode: fs.ModeSymlink | 0o777, Target: "busybox"})
	}

	grub := &Package{Name: "grub2-tools", Version: "2.06", Release: "1", Arch: "x86_64", Requires: Deps("filesystem")}
	if err := addHostFiles(grub, mkimage); err != nil {
		return nil, err
	}
	if err := addLibs(grub, mkimage); err != nil {
		return nil, err
	}
	for _, plat := range []string{"x86_64-efi", "i386-pc"} {
		dir := "/usr/lib/grub/" + plat
		grub.Files = append(grub.Files, File{Path: dir, Mode: fs.ModeDir | 0o755})
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				if err := addHostFiles(grub, filepath.Join(dir, e.Name())); err != nil {
					return nil, err
				}
			}
		}
	}

	const kver = "6.1.0-kiln.test.x86_64"
	kernel := &Package{Name: "kernel", Version: "6.1.0", Release: "kiln.test", Arch: "x86_64", Requires: Deps("filesystem"),
		Files: []File{
			{Path: "/lib/modules/" + kver, Mode: fs.ModeDir | 0o755},
			{Path: "/lib/modules/" + kver + "/vmlinuz", Mode: 0o755, Content: "placeholder kernel: this image does not boot"},
			{Path: "/lib/modules/" + kver + "/modules.dep", Content: ""},
			{Path: "/lib/modules/" + kver + "/modules.builtin", Content: "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n"},
		}}

	systemd := &Package{Name: "systemd", Version: "252", Release: "1", Arch: "x86_64", Requires: Deps("bash"),
		Files: []File{
			{Path: "/usr/bin/systemctl", Mode: 0o755, Content: "#!/bin/sh\necho \"$@\" >> /var/log/systemctl.calls\n"},
			{Path: "/usr/lib/systemd", Mode: fs.ModeDir | 0o755},
			{Path: "/usr/lib/systemd/system", Mode: fs.ModeDir | 0o755},
		}}

	scripts := &Package{Name: "kiln-test-scripts", Version: "1.0", Release: "3", Arch: "noarch", Epoch: 2,
		Requires: Deps("bash", "filesystem"),
		Files: []File{
			{Path: "/usr/bin/pinger", Mode: 0o755, Content: "#!/bin/sh\n", Caps: "cap_net_raw=ep"},
			{Path: "/usr/bin/gzip", Mode: 0o755, Content: "gzip"},
			{Path: "/usr/bin/gunzip", LinkTo: "/usr/bin/gzip"},
		},
		Post:      Script{Body: "mkdir -p /var/lib/kiln-test && echo \"shell post ran with $1\" > /var/lib/kiln-test/post\n"},
		PostTrans: Script{Interpreter: Lua, Body: `local f = io.open("/var/lib/kiln-test/lua", "w"); f:write("lua posttrans ran\n"); f:close()`},
	}
	return []*Package{fsys, rpmPkg, shell, grub, kernel, systemd, scripts}, nil
}

// addHostFiles packs host files at the same paths.
func addHostFiles(p *Package, paths ...string) error {
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		p.Files = append(p.Files, File{Path: path, Mode: st.Mode().Perm(), Content: string(data)})
	}
	return nil
}

var lddLine = regexp.MustCompile(`(?m)^\s*(\S+)(?: => (\S+))? \(0x`)

// addLibs packs the shared libraries bin links, as ldd lists them, under
// /usr/lib/x86_64-linux-gnu (the dynamic loader under /usr/lib64), skipping
// any the package already has.
func addLibs(p *Package, bin string) error {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", bin, err)
	}
	have := map[string]bool{}
	for _, f := range p.Files {
		have[f.Path] = true
	}
	for _, m := range lddLine.FindAllStringSubmatch(string(out), -1) {
		host := m[2]
		if host == "" {
			host = m[1]
		}
		if !strings.HasPrefix(host, "/") {
			continue // the vDSO
		}
		dst := "/usr/lib/x86_64-linux-gnu/" + filepath.Base(host)
		if strings.Contains(host, "ld-linux") {
			dst = "/usr/lib64/" + filepath.Base(host)
		}
		if have[dst] {
			continue
		}
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(real)
		if err != nil {
			return err
		}
		p.Files = append(p.Files, File{Path: dst, Mode: 0o755, Content: string(data)})
		have[dst] = true
	}
	return nil
}
