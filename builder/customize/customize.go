// Package customize applies a profile's image settings to an installed
// tree: files, sysctl, kernel modules, SELinux mode, fstab by UUID, the
// container runtime's CRI config, the first-boot agent, users and systemd
// units; then it removes what must be unique per node (machine-id, SSH
// host keys, random seed, secrets a package's %post generated) so every
// clone makes its own on first boot, and dates the Java keystores a %post
// wrote with the build's time (SOURCE_DATE_EPOCH), not the clock's.
//
// Commands that belong to the target (systemctl, useradd, setfiles) run
// inside the tree through the Runner the caller gives.
package customize

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/treepath"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/assets"
	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
)

// Runner runs a command inside the image tree.
type Runner func(ctx context.Context, argv []string) error

// Options for Apply.
type Options struct {
	Root      string
	Profile   *spec.Profile
	RootUUID  string // the root filesystem's UUID
	ESPUUID   string // the ESP's FAT volume id (XXXX-XXXX); "" when BIOS-only
	Firstboot string // host path of the kiln-firstboot binary
	ModTime   time.Time
	Run       Runner
	// SandboxImage is containerd's sandbox_image: kubeadm's pause image, which the
	// build derived and preloaded. Empty means a pause image of the profile's images,
	// or the default in assets.
	SandboxImage string
}

// FirstbootPath is where the agent lives in the image.
const FirstbootPath = "/usr/bin/kiln-firstboot"

// Apply customizes the tree. Each step's error says which step failed.
func Apply(ctx context.Context, o Options) error {
	steps := []struct {
		name string
		fn   func() error
	}{
		{"files", func() error { return writeFiles(o) }},
		{"sysctl", func() error { return writeSysctl(o) }},
		{"kernel modules", func() error { return writeModules(o) }},
		{"SELinux mode", func() error { return writeSELinux(o) }},
		{"fstab", func() error { return writeFstab(o) }},
		{"containerd config", func() error { return writeContainerd(o) }},
		{"kiln-firstboot", func() error { return installFirstboot(o) }},
		{"users", func() error { return addUsers(ctx, o) }},
		{"systemd units", func() error { return applyUnits(ctx, o) }},
		{"per-node identity", func() error { return scrubIdentity(o) }},
		{"keystore dates", func() error { return dateKeystores(o) }},
		{"SELinux labels", func() error { return relabel(ctx, o) }},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.fn(); err != nil {
			return fmt.Errorf("customizing %s: %w", s.name, err)
		}
	}
	return nil
}

// hostPath maps an absolute in-image path to the host, resolving the
// image's own symlinks inside the tree.
func hostPath(o Options, p string) (string, error) { return treepath.Confine(o.Root, p) }

func writeTreeFile(o Options, p string, data []byte, mode os.FileMode, uid, gid int) error {
	hp, err := hostPath(o, p)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(hp, data, atomicfile.Options{Mode: mode, ModTime: o.ModTime, Owner: &atomicfile.Owner{UID: uid, GID: gid}, MakeDirs: true, NoSync: true})
}

func writeFiles(o Options) error {
	ids, err := readIDs(o.Root)
	if err != nil {
		return err
	}
	for i, f := range o.Profile.Files {
		data := []byte(f.Content)
		if f.Source != "" {
			if data, err = os.ReadFile(f.Source); err != nil {
				return fmt.Errorf("files[%d]: %w", i, err)
			}
		}
		mode := os.FileMode(0o644)
		if f.Mode != "" {
			m, _ := strconv.ParseUint(f.Mode, 8, 32)
			mode = os.FileMode(m) & os.ModePerm
			// setuid/setgid/sticky bits from the octal string.
			if m&0o4000 != 0 {
				mode |= os.ModeSetuid
			}
			if m&0o2000 != 0 {
				mode |= os.ModeSetgid
			}
			if m&0o1000 != 0 {
				mode |= os.ModeSticky
			}
		}
		uid, ok := ids.user(f.Owner)
		if !ok {
			return fmt.Errorf("files[%d] (%s): owner %q is not a user in the image's /etc/passwd", i, f.Path, f.Owner)
		}
		gid, ok := ids.group(f.Group)
		if !ok {
			return fmt.Errorf("files[%d] (%s): group %q is not a group in the image's /etc/group", i, f.Path, f.Group)
		}
		if err := writeTreeFile(o, f.Path, data, mode, uid, gid); err != nil {
			return fmt.Errorf("files[%d] (%s): %w", i, f.Path, err)
		}
	}
	return nil
}

func writeSysctl(o Options) error {
	if len(o.Profile.Sysctl) == 0 {
		return nil
	}
	keys := make([]string, 0, len(o.Profile.Sysctl))
	for k := range o.Profile.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("# Written by kiln from the profile's sysctl settings.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, o.Profile.Sysctl[k])
	}
	return writeTreeFile(o, "/etc/sysctl.d/90-kiln.conf", b.Bytes(), 0o644, 0, 0)
}

func writeModules(o Options) error {
	if len(o.Profile.KernelModules) == 0 {
		return nil
	}
	data := "# Written by kiln from the profile's kernelModules.\n" + strings.Join(o.Profile.KernelModules, "\n") + "\n"
	return writeTreeFile(o, "/etc/modules-load.d/kiln.conf", []byte(data), 0o644, 0, 0)
}

var selinuxLine = regexp.MustCompile(`(?m)^SELINUX=.*$`)

func writeSELinux(o Options) error {
	mode := o.Profile.SELinux
	if mode == "" {
		return nil
	}
	hp, err := hostPath(o, "/etc/selinux/config")
	if err != nil {
		return err
	}
	cur, err := os.ReadFile(hp)
	if errors.Is(err, os.ErrNotExist) {
		if mode == "disabled" {
			return nil
		}
		cur = []byte("SELINUX=" + mode + "\nSELINUXTYPE=targeted\n")
	} else if err != nil {
		return err
	}
	var data []byte
	if selinuxLine.Match(cur) {
		data = selinuxLine.ReplaceAll(cur, []byte("SELINUX="+mode))
	} else {
		data = append(cur, []byte("SELINUX="+mode+"\n")...)
	}
	return writeTreeFile(o, "/etc/selinux/config", data, 0o644, 0, 0)
}

// writeFstab mounts root and the ESP by UUID and has no swap line:
// kubelet wants swap off.
func writeFstab(o Options) error {
	var b strings.Builder
	b.WriteString("# Written by kiln. Devices are named by filesystem UUID.\n")
	fmt.Fprintf(&b, "UUID=%s / ext4 defaults 0 1\n", o.RootUUID)
	if o.ESPUUID != "" {
		fmt.Fprintf(&b, "UUID=%s /boot/efi vfat umask=0077,shortname=winnt 0 2\n", o.ESPUUID)
		if hp, err := hostPath(o, "/boot/efi"); err == nil {
			os.MkdirAll(hp, 0o700)
		}
	}
	return writeTreeFile(o, "/etc/fstab", []byte(b.String()), 0o644, 0, 0)
}

var sandboxLine = regexp.MustCompile(`(?m)^  sandbox_image = ".*"$`)

// writeContainerd replaces containerd.io's config (which disables CRI)
// when containerd is installed.
func writeContainerd(o Options) error {
	found := false
	for _, p := range []string{"/usr/bin/containerd", "/usr/local/bin/containerd"} {
		if hp, err := hostPath(o, p); err == nil {
			if _, err := os.Stat(hp); err == nil {
				found = true
			}
		}
	}
	if !found {
		return nil
	}
	cfg := assets.ContainerdConfig
	sandbox := o.SandboxImage
	for _, im := range o.Profile.Images {
		if sandbox == "" && strings.Contains(im.Ref, "/pause:") {
			sandbox = im.Ref
		}
	}
	if sandbox != "" {
		cfg = sandboxLine.ReplaceAll(cfg, []byte(`  sandbox_image = "`+sandbox+`"`))
	}
	return writeTreeFile(o, "/etc/containerd/config.toml", cfg, 0o644, 0, 0)
}

func installFirstboot(o Options) error {
	if o.Firstboot == "" {
		return errors.New("no kiln-firstboot binary given")
	}
	bin, err := os.ReadFile(o.Firstboot)
	if err != nil {
		return fmt.Errorf("reading the kiln-firstboot binary: %w", err)
	}
	if err := writeTreeFile(o, FirstbootPath, bin, 0o755, 0, 0); err != nil {
		return err
	}
	if err := writeTreeFile(o, "/usr/lib/systemd/system/kiln-firstboot.service", assets.FirstbootUnit, 0o644, 0, 0); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(o.Root, "var/lib/kiln"), 0o700)
}

func addUsers(ctx context.Context, o Options) error {
	for i, u := range o.Profile.Users {
		argv := []string{"useradd", "--create-home", "--user-group"}
		if len(u.Groups) > 0 {
			argv = append(argv, "--groups", strings.Join(u.Groups, ","))
		}
		if u.Shell != "" {
			argv = append(argv, "--shell", u.Shell)
		}
		if u.PasswordHash != "" {
			argv = append(argv, "--password", u.PasswordHash)
		}
		if err := o.Run(ctx, append(argv, u.Name)); err != nil {
			return fmt.Errorf("users[%d] (%s): %w", i, u.Name, err)
		}
		ids, err := readIDs(o.Root)
		if err != nil {
			return err
		}
		uid, _ := ids.user(u.Name)
		gid, _ := ids.group(u.Name)
		if len(u.SSHAuthorizedKeys) > 0 {
			home := ids.home[u.Name]
			if home == "" {
				home = "/home/" + u.Name
			}
			ssh := path.Join(home, ".ssh")
			hp, err := hostPath(o, ssh)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(hp, 0o700); err != nil {
				return err
			}
			if err := errors.Join(os.Chmod(hp, 0o700), os.Lchown(hp, uid, gid)); err != nil {
				return err
			}
			keys := strings.Join(u.SSHAuthorizedKeys, "\n") + "\n"
			if err := writeTreeFile(o, path.Join(ssh, "authorized_keys"), []byte(keys), 0o600, uid, gid); err != nil {
				return err
			}
		}
		if u.Sudo {
			line := u.Name + " ALL=(ALL) NOPASSWD: ALL\n"
			if err := writeTreeFile(o, "/etc/sudoers.d/90-kiln-"+u.Name, []byte(line), 0o440, 0, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyUnits uses the image's own systemctl, which knows [Install]
// sections, aliases and templates. kiln-firstboot is always enabled and
// swap.target masked (kubelet refuses to run with swap on).
func applyUnits(ctx context.Context, o Options) error {
	u := o.Profile.Units
	secretUnits, err := installSecretUnits(o)
	if err != nil {
		return err
	}
	enable := append(append([]string{"kiln-firstboot.service"}, secretUnits...), u.Enable...)
	mask := append([]string{"swap.target"}, u.Mask...)
	for _, step := range []struct {
		verb  string
		units []string
	}{{"enable", enable}, {"disable", u.Disable}, {"mask", mask}} {
		if len(step.units) == 0 {
			continue
		}
		if err := o.Run(ctx, append([]string{"systemctl", step.verb}, step.units...)); err != nil {
			return fmt.Errorf("systemctl %s: %w", step.verb, err)
		}
	}
	return nil
}

// scrubIdentity removes what must differ between nodes cloned from one
// image. An empty /etc/machine-id tells systemd this is a first boot.
func scrubIdentity(o Options) error {
	if err := writeTreeFile(o, "/etc/machine-id", nil, 0o444, 0, 0); err != nil {
		return err
	}
	var remove []string
	for _, glob := range []string{
		"/etc/ssh/ssh_host_*", "/var/lib/systemd/random-seed", "/var/lib/systemd/credential.secret",
		"/var/lib/dbus/machine-id", "/var/log/dnf*", "/var/log/hawkey.log",
		"/var/cache/dnf/*", "/var/lib/dnf/history*",
		// Build residue, not identity: ldconfig's cache of the libraries'
		// inode and mtime, which differ between builds; ldconfig makes it
		// again on its next run.
		"/var/cache/ldconfig/aux-cache",
	} {
		hp, err := hostPath(o, path.Dir(glob))
		if err != nil {
			return err
		}
		m, _ := filepath.Glob(filepath.Join(hp, path.Base(glob)))
		remove = append(remove, m...)
	}
	for _, p := range remove {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return removeSecrets(o)
}

// relabel sets SELinux labels with the image's setfiles when the policy is
// installed and SELinux is not disabled.
func relabel(ctx context.Context, o Options) error {
	if o.Profile.SELinux == "disabled" {
		return nil
	}
	fc := "/etc/selinux/targeted/contexts/files/file_contexts"
	for _, p := range []string{fc, "/usr/sbin/setfiles"} {
		hp, err := hostPath(o, p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(hp); err != nil {
			return nil
		}
	}
	return o.Run(ctx, []string{"setfiles", "-F", "-e", "/proc", "-e", "/sys", "-e", "/dev", "-e", "/run", "-e", "/tmp", fc, "/"})
}

// ids is the image's own user and group database.
type ids struct {
	users, groups map[string]int
	home          map[string]string
}

func (d ids) user(name string) (int, bool) {
	if name == "" || name == "root" {
		return 0, true
	}
	id, ok := d.users[name]
	return id, ok
}

func (d ids) group(name string) (int, bool) {
	if name == "" || name == "root" {
		return 0, true
	}
	id, ok := d.groups[name]
	return id, ok
}

func readIDs(root string) (ids, error) {
	d := ids{users: map[string]int{}, groups: map[string]int{}, home: map[string]string{}}
	for _, f := range []struct {
		path string
		into map[string]int
	}{{"etc/passwd", d.users}, {"etc/group", d.groups}} {
		fh, err := os.Open(filepath.Join(root, f.path))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return d, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) < 3 {
				continue
			}
			if id, err := strconv.Atoi(fields[2]); err == nil {
				f.into[fields[0]] = id
			}
			if f.path == "etc/passwd" && len(fields) >= 6 {
				d.home[fields[0]] = fields[5]
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return d, err
		}
	}
	return d, nil
}
