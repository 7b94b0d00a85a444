package clusterimages

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Tree is the content of one layer: paths (relative, slash-separated,
// without a leading slash) mapped to what lies there. It is written as a
// tar in lexical order with one fixed modification time and numeric owners
// only, so the same tree always gives the same bytes.
type Tree struct {
	entries map[string]*entry
}

type entry struct {
	typ      byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64
	uid, gid int
	link     string // symlink target
	src      string // regular file: the file to copy
	data     []byte // regular file: content, when src is empty
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{entries: map[string]*entry{}} }

func key(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

func (t *Tree) put(p string, e *entry) error {
	k := key(p)
	if k == "" {
		return nil // the root itself is never an entry
	}
	if old, ok := t.entries[k]; ok {
		if old.typ == tar.TypeDir && e.typ == tar.TypeDir {
			return nil
		}
		if old.typ == e.typ && old.link == e.link && old.src == e.src && string(old.data) == string(e.data) {
			return nil
		}
		return fmt.Errorf("/%s is added twice, with different content", k)
	}
	t.entries[k] = e
	return nil
}

// Dir adds a directory.
func (t *Tree) Dir(p string, mode fs.FileMode) error {
	return t.put(p, &entry{typ: tar.TypeDir, mode: tarMode(mode)})
}

// File adds a copy of the file src (read when the layer is written).
func (t *Tree) File(p, src string, mode fs.FileMode) error {
	return t.put(p, &entry{typ: tar.TypeReg, mode: tarMode(mode), src: src})
}

// Data adds a file holding data.
func (t *Tree) Data(p string, data []byte, mode fs.FileMode) error {
	return t.put(p, &entry{typ: tar.TypeReg, mode: tarMode(mode), data: data})
}

// Symlink adds a symbolic link to target.
func (t *Tree) Symlink(p, target string) error {
	return t.put(p, &entry{typ: tar.TypeSymlink, mode: 0o777, link: target})
}

// Has reports whether the tree holds p.
func (t *Tree) Has(p string) bool { _, ok := t.entries[key(p)]; return ok }

func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// maxHops bounds symlink resolution, as the kernel's 40 does.
const maxHops = 40

// CopyFromRoot adds what lies at p in the tree root (a file, a directory
// without its content, or a symlink), at the same path. Symlinked
// directories on the way are resolved inside root, never outside it, and
// added as symlinks too: in a merged-/usr tree, /lib/x86_64-linux-gnu/libc.so.6
// becomes the symlink lib -> usr/lib plus the file usr/lib/x86_64-linux-gnu/libc.so.6.
// With follow set, a symlink's target is added as well, recursively (for
// /etc/alternatives chains). It returns the path p resolved to.
func (t *Tree) CopyFromRoot(root, p string, follow bool) (string, error) {
	hops := 0
	return t.copyFromRoot(root, p, follow, &hops)
}

func (t *Tree) copyFromRoot(root, p string, follow bool, hops *int) (string, error) {
	canon, err := t.resolveParents(root, path.Clean("/"+p), hops)
	if err != nil {
		return "", err
	}
	host := filepath.Join(root, filepath.FromSlash(canon))
	fi, err := os.Lstat(host)
	if err != nil {
		return "", err
	}
	owner := func(e *entry) *entry {
		e.uid, e.gid = ownerOf(fi)
		return e
	}
	switch {
	case fi.Mode().IsRegular():
		return canon, t.put(canon, owner(&entry{typ: tar.TypeReg, mode: tarMode(fi.Mode()), src: host}))
	case fi.IsDir():
		return canon, t.put(canon, owner(&entry{typ: tar.TypeDir, mode: tarMode(fi.Mode())}))
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if err := t.put(canon, owner(&entry{typ: tar.TypeSymlink, mode: 0o777, link: target})); err != nil {
			return "", err
		}
		if !follow {
			return canon, nil
		}
		if *hops++; *hops > maxHops {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(canon), target)
		}
		return t.copyFromRoot(root, target, follow, hops)
	default:
		return "", fmt.Errorf("%s: %v is not a file, directory or symlink", p, fi.Mode().Type())
	}
}

// resolveParents resolves the directories of the absolute path p inside
// root (its last element is left as is), adding each symlink passed
// through to the tree.
func (t *Tree) resolveParents(root, p string, hops *int) (string, error) {
	if p == "/" {
		return p, nil
	}
	dir, err := t.resolve(root, path.Dir(p), hops)
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(p)), nil
}

// resolve resolves every element of the absolute path p inside root: a
// symlink's target, absolute or relative, is taken as inside root, and
// ".." never climbs above it.
func (t *Tree) resolve(root, p string, hops *int) (string, error) {
	comps := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	cur := "/"
	for i := 0; i < len(comps); i++ {
		if comps[i] == "" {
			continue
		}
		next := path.Join(cur, comps[i])
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if *hops++; *hops > maxHops {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if err := t.Symlink(next, target); err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		// Start over from the root with the target in place of the link.
		comps = strings.Split(strings.Trim(path.Join(append([]string{"/", target}, comps[i+1:]...)...), "/"), "/")
		cur, i = "/", -1
	}
	return cur, nil
}

func ownerOf(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

// WriteTar writes the tree as a tar stream: entries in lexical order, each
// missing parent directory added (mode 0755, owned by root), every time
// set to mtime.
func (t *Tree) WriteTar(w io.Writer, mtime time.Time) error {
	all := map[string]*entry{}
	for k, e := range t.entries {
		all[k] = e
		for d := path.Dir(k); d != "."; d = path.Dir(d) {
			if p, ok := t.entries[d]; ok && p.typ != tar.TypeDir {
				return fmt.Errorf("/%s is under /%s, which is not a directory in the layer", k, d)
			}
			if _, ok := all[d]; !ok {
				all[d] = &entry{typ: tar.TypeDir, mode: 0o755}
			}
		}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tar.NewWriter(w)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, k := range keys {
		e := all[k]
		h := &tar.Header{Typeflag: e.typ, Name: k, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mtime, Linkname: e.link}
		if e.typ == tar.TypeDir {
			h.Name += "/"
		}
		if err := writeEntry(tw, h, e); err != nil {
			return fmt.Errorf("writing /%s: %w", k, err)
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, h *tar.Header, e *entry) error {
	if e.typ != tar.TypeReg {
		return tw.WriteHeader(h)
	}
	if e.src == "" {
		h.Size = int64(len(e.data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != h.Size {
		err = fmt.Errorf("%s changed size while being read", e.src)
	}
	return err
}

// Layer writes the tree, gzip-compressed, to a new file in dir and returns
// it as a layer. compress/gzip at a fixed level is deterministic, so the
// digest depends on the tree alone.
func (t *Tree) Layer(dir string, mtime time.Time) (v1.Layer, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar.gz")
	if err != nil {
		return nil, err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err == nil {
		err = t.WriteTar(zw, mtime)
		err = errors.Join(err, zw.Close())
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("writing a layer: %w", err)
	}
	return tarball.LayerFromFile(f.Name())
}
