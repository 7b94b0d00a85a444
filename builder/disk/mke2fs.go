package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ext4Features lists every feature explicitly (after "none"), so the result
// does not depend on the host's /etc/mke2fs.conf or e2fsprogs defaults.
var ext4Features = map[Compat]string{
	CompatEL8: "none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg," +
		"sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum",
	CompatEL7: "none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,flex_bg," +
		"sparse_super,large_file,huge_file,uninit_bg,dir_nlink,extra_isize",
}

// mke2fsConfig replaces /etc/mke2fs.conf (MKE2FS_CONFIG) so that no host
// setting reaches the image; the usage types exist only so mke2fs does not
// warn that they are missing.
const mke2fsConfig = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		inode_size = 256
	}
	small = {
		inode_ratio = 16384
	}
	floppy = {
		inode_ratio = 16384
	}
	default = {
		inode_ratio = 16384
	}
	big = {
		inode_ratio = 32768
	}
	huge = {
		inode_ratio = 65536
	}
`

const ext4BlockSize = 4096

// mke2fsArgs is the command line that writes the root filesystem straight
// into the disk image at the root partition's offset.
func mke2fsArgs(l Layout, tree, image string, owner rootOwner) []string {
	root := l.RootPartition()
	blocks := root.Size() / ext4BlockSize
	return []string{
		"-q", "-F", "-t", "ext4",
		"-b", strconv.Itoa(ext4BlockSize), "-I", "256",
		"-O", ext4Features[l.Root.Compat],
		"-U", l.Root.UUID,
		"-L", l.Root.Label,
		// offset: write into the partition of the whole-disk file.
		// root_owner: / belongs to whoever owns the tree's root (mke2fs
		// would otherwise give it the caller's uid and gid).
		// Discard (the default) punches the range on a regular file, which
		// keeps it sparse and lets mke2fs skip zeroing inode tables;
		// lazy_journal_init likewise skips writing the journal's zeros
		// (same bytes, 64 MiB less allocated for a 4 GiB disk).
		"-E", "hash_seed=" + l.Root.HashSeed + ",offset=" + strconv.FormatInt(root.Offset(), 10) + ",root_owner=" + strconv.Itoa(owner.uid) + ":" + strconv.Itoa(owner.gid) + ",lazy_journal_init=1",
		"-d", tree,
		image, strconv.FormatInt(blocks*ext4BlockSize/1024, 10) + "k",
	}
}

// runMke2fs runs mke2fs with a pinned configuration, clock and locale
// (populate_fs sorts directory entries with alphasort, which follows
// LC_COLLATE).
func runMke2fs(ctx context.Context, mke2fs string, l Layout, tree, image string) error {
	owner, err := statRoot(tree)
	if err != nil {
		return err
	}
	conf := filepath.Join(filepath.Dir(image), "."+filepath.Base(image)+".mke2fs.conf")
	if err := os.WriteFile(conf, []byte(mke2fsConfig), 0o600); err != nil {
		return fmt.Errorf("writing mke2fs configuration: %w", err)
	}
	defer os.Remove(conf)
	cmd := exec.CommandContext(ctx, mke2fs, mke2fsArgs(l, tree, image, owner)...)
	cmd.Env = append(cleanEnv(os.Environ()),
		"MKE2FS_CONFIG="+conf,
		"E2FSPROGS_FAKE_TIME="+strconv.FormatInt(l.Time.Unix(), 10),
		"LC_ALL=C", "TZ=UTC",
	)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("making root filesystem with %s: %w: %s", mke2fs, err, strings.TrimSpace(stderr.String()))
	}
	return setRootMode(ctx, mke2fs, l, image, owner.mode)
}

// rootOwner is the tree root's owner and permission bits.
type rootOwner struct {
	uid, gid int
	mode     uint32 // permissions with setuid, setgid and sticky bits
}

func statRoot(tree string) (rootOwner, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(tree, &st); err != nil {
		return rootOwner{}, fmt.Errorf("root tree: %w", err)
	}
	return rootOwner{uid: int(st.Uid), gid: int(st.Gid), mode: st.Mode & 0o7777}, nil
}

// setRootMode gives the filesystem's root directory the tree root's mode:
// `mke2fs -d` copies the mode of everything below the root but leaves / at
// 0755, where EL's filesystem package declares 0555 (rpm -Va flags it).
// debugfs, from the same e2fsprogs, sets it and the inode checksum.
func setRootMode(ctx context.Context, mke2fs string, l Layout, image string, mode uint32) error {
	debugfs := filepath.Join(filepath.Dir(mke2fs), "debugfs")
	if _, err := os.Stat(debugfs); err != nil {
		if debugfs, err = exec.LookPath("debugfs"); err != nil {
			return fmt.Errorf("finding debugfs (e2fsprogs) to set the root directory's mode: %w", err)
		}
	}
	dev := image + "?offset=" + strconv.FormatInt(l.RootPartition().Offset(), 10)
	cmd := exec.CommandContext(ctx, debugfs, "-w", "-R", fmt.Sprintf("set_inode_field / mode 0%o", syscall.S_IFDIR|mode), dev)
	cmd.Env = append(cleanEnv(os.Environ()),
		"E2FSPROGS_FAKE_TIME="+strconv.FormatInt(l.Time.Unix(), 10), "LC_ALL=C", "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err := cmd.Run()
	// debugfs exits 0 when a request fails; anything but its banner is one.
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "debugfs ") {
			msgs = append(msgs, line)
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("setting the root directory's mode with %s: %w: %s", debugfs, err, strings.Join(msgs, "; "))
	case len(msgs) > 0:
		return fmt.Errorf("setting the root directory's mode with %s: %s", debugfs, strings.Join(msgs, "; "))
	}
	return nil
}

// cleanEnv drops the variables runMke2fs sets and those that change
// mke2fs's output or behaviour (MKE2FS_*, E2FSPROGS_*, LC_*, LANG, TZ).
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "MKE2FS_") || strings.HasPrefix(name, "E2FSPROGS_") ||
			strings.HasPrefix(name, "LC_") || name == "LANG" || name == "LANGUAGE" || name == "TZ" {
			continue
		}
		out = append(out, kv)
	}
	return out
}
