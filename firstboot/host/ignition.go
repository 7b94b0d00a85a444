package host

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	ignition "github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/vincent-petithory/dataurl"

	"github.com/kiln-build/kiln/firstboot/config"
)

// maxIgnitionFile bounds a decompressed Ignition file: the whole metadata
// document is at most a few MiB, but gzip can expand it a thousandfold.
const maxIgnitionFile = 64 << 20

// ParseIgnition parses an Ignition config (spec 3.0 to 3.5) and checks that
// it uses only what the agent applies: storage files (data: URLs, optionally
// gzip-compressed, optionally with a sha256/sha512 verification hash),
// directories and links; systemd units and drop-ins; passwd users and
// groups. Anything else (disks, filesystems, RAID, LUKS, remote sources,
// kernel arguments, config merging) is refused with the field named:
// partitioning and kernel arguments belong in the image profile.
func ParseIgnition(raw config.Ignition) (types.Config, error) {
	c, _, err := ignition.ParseCompatibleVersion(raw)
	if err != nil {
		return c, &config.Error{Field: "ignition", Msg: err.Error()}
	}
	bad := func(field, why string) error {
		return &config.Error{Field: "ignition." + field, Msg: why}
	}
	switch {
	case len(c.Ignition.Config.Merge) > 0 || c.Ignition.Config.Replace.Source != nil:
		return c, bad("ignition.config", "merging or replacing configs is not supported by kiln-firstboot")
	case len(c.Ignition.Security.TLS.CertificateAuthorities) > 0:
		return c, bad("ignition.security", "not supported by kiln-firstboot (it fetches nothing)")
	case len(c.KernelArguments.ShouldExist) > 0 || len(c.KernelArguments.ShouldNotExist) > 0:
		return c, bad("kernelArguments", "not supported by kiln-firstboot: set the kernel command line in the image profile")
	case len(c.Storage.Disks) > 0:
		return c, bad("storage.disks", "not supported by kiln-firstboot: partitioning belongs in the image profile")
	case len(c.Storage.Filesystems) > 0:
		return c, bad("storage.filesystems", "not supported by kiln-firstboot: filesystems belong in the image profile")
	case len(c.Storage.Raid) > 0:
		return c, bad("storage.raid", "not supported by kiln-firstboot")
	case len(c.Storage.Luks) > 0:
		return c, bad("storage.luks", "not supported by kiln-firstboot")
	}
	for i, f := range c.Storage.Files {
		field := fmt.Sprintf("storage.files[%d]", i)
		if _, err := resourceData(f.Contents); err != nil {
			return c, bad(field+".contents", err.Error())
		}
		for j, a := range f.Append {
			if _, err := resourceData(a); err != nil {
				return c, bad(fmt.Sprintf("%s.append[%d]", field, j), err.Error())
			}
		}
	}
	return c, nil
}

// resourceData decodes an Ignition resource: a data: URL, gunzipped if
// compression is gzip, checked against its verification hash. No source
// means empty contents.
func resourceData(r types.Resource) ([]byte, error) {
	if r.Source == nil {
		return nil, nil
	}
	src := *r.Source
	if !strings.HasPrefix(src, "data:") {
		scheme, _, _ := strings.Cut(src, ":")
		return nil, fmt.Errorf("source scheme %q is not supported by kiln-firstboot (only data: URLs; the node fetches nothing at first boot)", scheme)
	}
	du, err := dataurl.DecodeString(src)
	if err != nil {
		return nil, fmt.Errorf("decoding data URL: %w", err)
	}
	data := du.Data
	if r.Compression != nil && *r.Compression != "" {
		if *r.Compression != "gzip" {
			return nil, fmt.Errorf("compression %q is not supported (want gzip)", *r.Compression)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, maxIgnitionFile+1))
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err)
		}
		if len(data) > maxIgnitionFile {
			return nil, fmt.Errorf("decompressed contents are larger than %d bytes", maxIgnitionFile)
		}
	}
	if r.Verification.Hash != nil {
		alg, want, ok := strings.Cut(*r.Verification.Hash, "-")
		var h hash.Hash
		switch {
		case ok && alg == "sha512":
			h = sha512.New()
		case ok && alg == "sha256":
			h = sha256.New()
		default:
			return nil, fmt.Errorf("verification hash %q: want sha256-HEX or sha512-HEX", *r.Verification.Hash)
		}
		h.Write(data)
		if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(want) {
			return nil, fmt.Errorf("contents do not match the verification hash (%s-%s)", alg, got)
		}
	}
	return data, nil
}

// ApplyIgnition applies an Ignition config, in Ignition's own order: groups
// and users (groupadd, useradd or usermod, SSH keys), then directories,
// files and links, then systemd units (written, then enabled, disabled or
// masked after a daemon-reload). A file that exists with other contents is
// replaced only when overwrite is true, as Ignition does; one that already
// holds the wanted contents is left alone, so applying twice is harmless.
func (h *Host) ApplyIgnition(ctx context.Context, raw config.Ignition) error {
	c, err := ParseIgnition(raw)
	if err != nil {
		return err
	}
	for _, g := range c.Passwd.Groups {
		if err := h.ensureGroup(ctx, g); err != nil {
			return err
		}
	}
	for _, u := range c.Passwd.Users {
		if err := h.ensureUser(ctx, u); err != nil {
			return err
		}
	}
	for _, d := range c.Storage.Directories {
		mode := fs.FileMode(0o755)
		if d.Mode != nil {
			mode = fs.FileMode(*d.Mode)
		}
		if err := os.MkdirAll(h.Path(d.Path), mode.Perm()); err != nil {
			return fmt.Errorf("ignition: creating directory %s: %w", d.Path, err)
		}
		if err := os.Chmod(h.Path(d.Path), mode.Perm()); err != nil {
			return fmt.Errorf("ignition: creating directory %s: %w", d.Path, err)
		}
		if err := h.chown(d.Path, d.User, d.Group); err != nil {
			return err
		}
	}
	for i, f := range c.Storage.Files {
		if err := h.ignitionFile(f); err != nil {
			return fmt.Errorf("ignition.storage.files[%d]: %w", i, err)
		}
	}
	for i, l := range c.Storage.Links {
		if err := h.ignitionLink(l); err != nil {
			return fmt.Errorf("ignition.storage.links[%d]: %w", i, err)
		}
	}
	if len(c.Systemd.Units) == 0 {
		return nil
	}
	for _, u := range c.Systemd.Units {
		if u.Contents != nil {
			if err := h.WriteFile(path.Join("/etc/systemd/system", u.Name), []byte(*u.Contents), 0o644); err != nil {
				return err
			}
		}
		for _, d := range u.Dropins {
			if d.Contents != nil {
				if err := h.WriteFile(path.Join("/etc/systemd/system", u.Name+".d", d.Name), []byte(*d.Contents), 0o644); err != nil {
					return err
				}
			}
		}
	}
	if _, err := h.Run(ctx, "systemctl", "daemon-reload"); err != nil {
		return err
	}
	for _, u := range c.Systemd.Units {
		var verb string
		switch {
		case u.Mask != nil && *u.Mask:
			verb = "mask"
		case u.Enabled != nil && *u.Enabled:
			verb = "enable"
		case u.Enabled != nil:
			verb = "disable"
		default:
			continue
		}
		if _, err := h.Run(ctx, "systemctl", verb, u.Name); err != nil {
			return err
		}
	}
	return nil
}

func (h *Host) ignitionFile(f types.File) error {
	data, err := resourceData(f.Contents)
	if err != nil {
		return err
	}
	full := h.Path(f.Path)
	old, readErr := os.ReadFile(full)
	exists := readErr == nil
	if exists && f.Contents.Source != nil && !bytes.Equal(old, data) && (f.Overwrite == nil || !*f.Overwrite) {
		// A file left by an earlier, interrupted run holds data already;
		// anything else is Ignition's "file exists" error.
		return fmt.Errorf("%s exists and overwrite is not set", f.Path)
	}
	if exists && f.Contents.Source == nil {
		data = old
	}
	for _, a := range f.Append {
		more, err := resourceData(a)
		if err != nil {
			return err
		}
		if !bytes.HasSuffix(data, more) { // appending twice after a restart would duplicate it
			data = append(data, more...)
		}
	}
	mode := fs.FileMode(0o644)
	if f.Mode != nil {
		mode = fs.FileMode(*f.Mode)
	}
	if err := h.WriteFile(f.Path, data, mode); err != nil {
		return err
	}
	return h.chown(f.Path, f.User, f.Group)
}

func (h *Host) ignitionLink(l types.Link) error {
	if l.Target == nil {
		return errors.New("link without a target")
	}
	full := h.Path(l.Path)
	if err := os.MkdirAll(path.Dir(full), 0o755); err != nil {
		return fmt.Errorf("creating link %s: %w", l.Path, err)
	}
	hard := l.Hard != nil && *l.Hard
	if fi, err := os.Lstat(full); err == nil {
		same := false
		if !hard && fi.Mode()&fs.ModeSymlink != 0 {
			t, _ := os.Readlink(full)
			same = t == *l.Target
		} else if hard {
			ti, err := os.Stat(h.Path(*l.Target))
			same = err == nil && os.SameFile(fi, ti)
		}
		if same {
			return nil
		}
		if l.Overwrite == nil || !*l.Overwrite {
			return fmt.Errorf("%s exists and overwrite is not set", l.Path)
		}
		if err := os.Remove(full); err != nil {
			return fmt.Errorf("replacing %s: %w", l.Path, err)
		}
	}
	if hard {
		if err := os.Link(h.Path(*l.Target), full); err != nil {
			return fmt.Errorf("creating hard link %s: %w", l.Path, err)
		}
	} else if err := os.Symlink(*l.Target, full); err != nil {
		return fmt.Errorf("creating link %s: %w", l.Path, err)
	}
	if h.Wrote != nil {
		h.Wrote(l.Path, fs.ModeSymlink|0o777)
	}
	return h.chown(l.Path, l.User, l.Group)
}

// chown gives a node path the owner Ignition asked for, by id or by name
// (looked up in the node's /etc/passwd and /etc/group).
func (h *Host) chown(p string, u types.NodeUser, g types.NodeGroup) error {
	if u.ID == nil && u.Name == nil && g.ID == nil && g.Name == nil {
		return nil
	}
	if h.DryRun {
		return nil
	}
	uid, gid := -1, -1
	var err error
	switch {
	case u.ID != nil:
		uid = *u.ID
	case u.Name != nil:
		if uid, err = h.lookupID("/etc/passwd", *u.Name); err != nil {
			return err
		}
	}
	switch {
	case g.ID != nil:
		gid = *g.ID
	case g.Name != nil:
		if gid, err = h.lookupID("/etc/group", *g.Name); err != nil {
			return err
		}
	}
	if err := os.Lchown(h.Path(p), uid, gid); err != nil {
		return fmt.Errorf("setting the owner of %s: %w", p, err)
	}
	return nil
}

// lookupID finds name's numeric id (third field) in a passwd or group file.
func (h *Host) lookupID(file, name string) (int, error) {
	data, err := h.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("looking up %s: %w", name, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 3 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			if err != nil {
				return 0, fmt.Errorf("%s: bad id for %s", file, name)
			}
			return id, nil
		}
	}
	return 0, fmt.Errorf("%s has no entry %q", file, name)
}

func (h *Host) ensureGroup(ctx context.Context, g types.PasswdGroup) error {
	if g.ShouldExist != nil && !*g.ShouldExist {
		if _, err := h.lookupID("/etc/group", g.Name); err != nil {
			return nil
		}
		_, err := h.Run(ctx, "groupdel", g.Name)
		return err
	}
	if _, err := h.lookupID("/etc/group", g.Name); err == nil {
		return nil
	}
	var args []string
	if g.Gid != nil {
		args = append(args, "--gid", strconv.Itoa(*g.Gid))
	}
	if g.System != nil && *g.System {
		args = append(args, "--system")
	}
	if g.PasswordHash != nil {
		args = append(args, "--password", *g.PasswordHash)
	}
	_, err := h.Run(ctx, "groupadd", append(args, g.Name)...)
	return err
}

func (h *Host) ensureUser(ctx context.Context, u types.PasswdUser) error {
	_, lookErr := h.lookupID("/etc/passwd", u.Name)
	exists := lookErr == nil
	if u.ShouldExist != nil && !*u.ShouldExist {
		if !exists {
			return nil
		}
		_, err := h.Run(ctx, "userdel", u.Name)
		return err
	}
	var args []string
	if exists {
		if u.PasswordHash != nil {
			args = append(args, "--password", *u.PasswordHash)
		}
		if len(u.Groups) > 0 {
			args = append(args, "--append", "--groups", joinGroups(u.Groups))
		}
		if len(args) > 0 {
			if _, err := h.Run(ctx, "usermod", append(args, u.Name)...); err != nil {
				return err
			}
		}
	} else {
		if u.UID != nil {
			args = append(args, "--uid", strconv.Itoa(*u.UID))
		}
		if u.Gecos != nil {
			args = append(args, "--comment", *u.Gecos)
		}
		if u.HomeDir != nil {
			args = append(args, "--home-dir", *u.HomeDir)
		}
		if u.NoCreateHome != nil && *u.NoCreateHome {
			args = append(args, "--no-create-home")
		} else {
			args = append(args, "--create-home")
		}
		if u.PrimaryGroup != nil {
			args = append(args, "--gid", *u.PrimaryGroup)
		}
		if len(u.Groups) > 0 {
			args = append(args, "--groups", joinGroups(u.Groups))
		}
		if u.NoUserGroup != nil && *u.NoUserGroup {
			args = append(args, "--no-user-group")
		}
		if u.System != nil && *u.System {
			args = append(args, "--system")
		}
		if u.NoLogInit != nil && *u.NoLogInit {
			args = append(args, "--no-log-init")
		}
		if u.Shell != nil {
			args = append(args, "--shell", *u.Shell)
		}
		if u.PasswordHash != nil {
			args = append(args, "--password", *u.PasswordHash)
		}
		if _, err := h.Run(ctx, "useradd", append(args, u.Name)...); err != nil {
			return err
		}
	}
	if len(u.SSHAuthorizedKeys) == 0 {
		return nil
	}
	home := "/home/" + u.Name
	if u.HomeDir != nil {
		home = *u.HomeDir
	} else if dir, ok := h.homeDir(u.Name); ok {
		home = dir
	}
	var keys strings.Builder
	for _, k := range u.SSHAuthorizedKeys {
		keys.WriteString(strings.TrimSpace(string(k)) + "\n")
	}
	// Ignition's own file name, so that sshd setups reading
	// authorized_keys.d and tools looking for it both find it.
	p := path.Join(home, ".ssh", "authorized_keys")
	if err := h.WriteFile(p, []byte(keys.String()), 0o600); err != nil {
		return err
	}
	if h.DryRun {
		return nil
	}
	uid, err := h.lookupID("/etc/passwd", u.Name)
	if err != nil {
		return err
	}
	gid := -1
	if data, err := h.ReadFile("/etc/passwd"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Split(l, ":"); len(f) >= 4 && f[0] == u.Name {
				gid, _ = strconv.Atoi(f[3])
			}
		}
	}
	for _, q := range []string{path.Join(home, ".ssh"), p} {
		if err := os.Lchown(h.Path(q), uid, gid); err != nil {
			return fmt.Errorf("setting the owner of %s: %w", q, err)
		}
	}
	return os.Chmod(h.Path(path.Join(home, ".ssh")), 0o700)
}

// homeDir reads a user's home directory from the node's /etc/passwd.
func (h *Host) homeDir(name string) (string, bool) {
	data, err := h.ReadFile("/etc/passwd")
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Split(l, ":"); len(f) >= 6 && f[0] == name && f[5] != "" {
			return f[5], true
		}
	}
	return "", false
}

func joinGroups(gs []types.Group) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = string(g)
	}
	return strings.Join(s, ",")
}
