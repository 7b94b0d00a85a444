// Package payload unpacks an RPM's payload (a compressed cpio archive)
// into a directory in Go, the way rpm would lay the files down: modes,
// owners, mtimes, symlinks, hard links, device nodes and file capabilities
// come from the RPM header, and every path stays inside the directory,
// whatever the archive's names or the tree's symlinks say. No scriptlets
// run: kiln uses it for the tools tree that then runs the target's own rpm.
//
//	pkg, _ := header.Read(f)           // f is now at the payload
//	st, err := payload.Extract(ctx, f, pkg.Header, dir, payload.Options{})
package payload

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/treepath"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/builder/rpm/header"
)

// Options adjust extraction.
type Options struct {
	// Owner maps the header's user and group names to ids; nil maps every
	// name to root (0), which suits a scratch tools tree.
	Owner func(user, group string) (uid, gid int)
}

// Stats says what Extract wrote.
type Stats struct {
	Files, Dirs, Symlinks, Hardlinks, Devices, Caps int
	Bytes                                           int64
}

// Header tags for file metadata not named in package header.
const (
	tagLongFileSizes header.Tag = 5008
	ghostFlag                   = 1 << 6
	maxNameLen                  = 4096
)

type fileInfo struct {
	path          string
	mode          uint32
	size          int64
	user, group   string
	mtime         uint32
	linkTo        string
	flags         uint32
	caps          string
	inode, device uint32
	rdev          uint32
}

// Extract decompresses and unpacks the payload read from r into dir.
func Extract(ctx context.Context, r io.Reader, h *header.Header, dir string, opts Options) (Stats, error) {
	var st Stats
	files, err := fileTable(h)
	if err != nil {
		return st, err
	}
	byPath := make(map[string]int, len(files))
	for i, f := range files {
		byPath[f.path] = i
	}
	comp, _ := h.String(header.TagPayloadCompressor)
	if f, _ := h.String(header.TagPayloadFormat); f != "" && f != "cpio" {
		return st, fmt.Errorf("payload format %q is not supported", f)
	}
	dr, closeFn, err := decompressor(comp, r)
	if err != nil {
		return st, err
	}
	defer closeFn()
	br := bufio.NewReaderSize(dr, 256<<10)
	x := &extractor{dir: dir, opts: opts, files: files, st: &st, links: map[[2]uint32]string{}, pending: map[[2]uint32][]int{}, members: map[[2]uint32]int{}}
	for _, f := range files {
		if f.mode&unix.S_IFMT == unix.S_IFREG && f.inode != 0 {
			x.members[[2]uint32{f.device, f.inode}]++
		}
	}
	if x.opts.Owner == nil {
		x.opts.Owner = func(string, string) (int, int) { return 0, 0 }
	}
	var dirs []int
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		idx, size, trailer, err := readEntry(br, byPath, len(files))
		if err != nil {
			return st, fmt.Errorf("reading payload: %w", err)
		}
		if trailer {
			break
		}
		f := files[idx]
		if err := x.write(idx, br, size); err != nil {
			return st, fmt.Errorf("%s: %w", f.path, err)
		}
		if f.mode&unix.S_IFMT == unix.S_IFDIR {
			dirs = append(dirs, idx)
		}
	}
	// Hard link sets whose data never came are an archive error.
	for key, idxs := range x.pending {
		if _, ok := x.links[key]; !ok {
			return st, fmt.Errorf("payload: hard link set of %s has no data", files[idxs[0]].path)
		}
	}
	// Directory times last: writing children changes them.
	for i := len(dirs) - 1; i >= 0; i-- {
		f := files[dirs[i]]
		p, err := x.hostPath(f.path)
		if err != nil {
			return st, err
		}
		setTime(p, f.mtime)
	}
	return st, nil
}

func decompressor(name string, r io.Reader) (io.Reader, func(), error) {
	nop := func() {}
	switch name {
	case "", "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("gzip payload: %w", err)
		}
		return zr, nop, nil
	case "bzip2":
		return bzip2.NewReader(r), nop, nil
	case "xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("xz payload: %w", err)
		}
		return zr, nop, nil
	case "lzma":
		zr, err := lzma.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("lzma payload: %w", err)
		}
		return zr, nop, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, nop, fmt.Errorf("zstd payload: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nop, fmt.Errorf("payload compressor %q is not supported", name)
}

// fileTable reads the per-file arrays of the header into one table.
func fileTable(h *header.Header) ([]fileInfo, error) {
	base, err := h.Strings(header.TagBaseNames)
	if err != nil {
		if !h.Has(header.TagBaseNames) {
			return nil, nil // a package without files
		}
		return nil, err
	}
	n := len(base)
	dirNames, err := h.Strings(header.TagDirNames)
	if err != nil {
		return nil, err
	}
	dirIdx, err := h.Uint32s(header.TagDirIndexes)
	if err != nil {
		return nil, err
	}
	modes, err := h.Uint16s(header.TagFileModes)
	if err != nil {
		return nil, err
	}
	var sizes []uint64
	if h.Has(tagLongFileSizes) {
		sizes, err = h.Uint64s(tagLongFileSizes)
	} else {
		var s32 []uint32
		s32, err = h.Uint32s(header.TagFileSizes)
		for _, s := range s32 {
			sizes = append(sizes, uint64(s))
		}
	}
	if err != nil {
		return nil, err
	}
	optStrings := func(t header.Tag) []string {
		s, _ := h.Strings(t)
		return s
	}
	optU32 := func(t header.Tag) []uint32 {
		s, _ := h.Uint32s(t)
		return s
	}
	users, groups := optStrings(header.TagFileUserName), optStrings(header.TagFileGroupName)
	links, caps := optStrings(header.TagFileLinkTos), optStrings(header.TagFileCaps)
	mtimes, flags := optU32(header.TagFileMTimes), optU32(header.TagFileFlags)
	inodes, devices := optU32(header.TagFileINodes), optU32(header.TagFileDevices)
	var rdevs []uint16
	rdevs, _ = h.Uint16s(header.TagFileRDevs)
	if len(dirIdx) != n || len(modes) != n || len(sizes) != n {
		return nil, fmt.Errorf("header file arrays disagree: %d names, %d dir indexes, %d modes, %d sizes", n, len(dirIdx), len(modes), len(sizes))
	}
	at := func(s []string, i int) string {
		if i < len(s) {
			return s[i]
		}
		return ""
	}
	at32 := func(s []uint32, i int) uint32 {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	files := make([]fileInfo, n)
	for i := range files {
		if int(dirIdx[i]) >= len(dirNames) {
			return nil, fmt.Errorf("header: file %d names directory %d of %d", i, dirIdx[i], len(dirNames))
		}
		p := dirNames[dirIdx[i]] + base[i]
		if !path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, "\x00") {
			return nil, fmt.Errorf("header: file path %q is not clean and absolute", p)
		}
		if sizes[i] > 1<<40 {
			return nil, fmt.Errorf("header: file %s claims %d bytes", p, sizes[i])
		}
		files[i] = fileInfo{
			path: p, mode: uint32(modes[i]), size: int64(sizes[i]),
			user: at(users, i), group: at(groups, i), mtime: at32(mtimes, i),
			linkTo: at(links, i), flags: at32(flags, i), caps: at(caps, i),
			inode: at32(inodes, i), device: at32(devices, i),
		}
		if i < len(rdevs) {
			files[i].rdev = uint32(rdevs[i])
		}
	}
	return files, nil
}

// readEntry reads one cpio header (newc "070701", or rpm's stripped
// "07070X" that carries only a file index) and returns the header index of
// the file, the size of the data that follows, or trailer at the end.
func readEntry(r *bufio.Reader, byPath map[string]int, nfiles int) (idx int, size int64, trailer bool, err error) {
	magic := make([]byte, 6)
	if _, err := io.ReadFull(r, magic); err != nil {
		return 0, 0, false, unexpected(err)
	}
	switch string(magic) {
	case "07070X":
		var hex [8]byte
		if _, err := io.ReadFull(r, hex[:]); err != nil {
			return 0, 0, false, unexpected(err)
		}
		n, err := strconv.ParseUint(string(hex[:]), 16, 32)
		if err != nil || int(n) >= nfiles {
			return 0, 0, false, fmt.Errorf("stripped cpio entry names file %q of %d", hex[:], nfiles)
		}
		if err := skip(r, 2); err != nil { // 14 bytes padded to 16
			return 0, 0, false, err
		}
		return int(n), -1, false, nil
	case "070701", "070702":
		var fields [13 * 8]byte
		if _, err := io.ReadFull(r, fields[:]); err != nil {
			return 0, 0, false, unexpected(err)
		}
		field := func(i int) (uint64, error) {
			return strconv.ParseUint(string(fields[i*8:i*8+8]), 16, 32)
		}
		fsize, err1 := field(6)
		nsize, err2 := field(11)
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, false, fmt.Errorf("cpio header: %w", err)
		}
		if nsize == 0 || nsize > maxNameLen {
			return 0, 0, false, fmt.Errorf("cpio header: name length %d", nsize)
		}
		name := make([]byte, nsize)
		if _, err := io.ReadFull(r, name); err != nil {
			return 0, 0, false, unexpected(err)
		}
		if err := skip(r, pad4(6+13*8+int64(nsize))); err != nil {
			return 0, 0, false, err
		}
		n := strings.TrimRight(string(name), "\x00")
		if n == "TRAILER!!!" {
			return 0, 0, true, nil
		}
		p := path.Clean("/" + strings.TrimPrefix(n, "."))
		i, ok := byPath[p]
		if !ok {
			return 0, 0, false, fmt.Errorf("payload has %q, which the header does not list", n)
		}
		return i, int64(fsize), false, nil
	}
	return 0, 0, false, fmt.Errorf("bad cpio magic %q", magic)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }

func skip(r *bufio.Reader, n int64) error {
	if _, err := r.Discard(int(n)); err != nil {
		return unexpected(err)
	}
	return nil
}

type extractor struct {
	dir     string
	opts    Options
	files   []fileInfo
	st      *Stats
	links   map[[2]uint32]string // hard link set -> host path of the written file
	pending map[[2]uint32][]int  // hard link members seen before the data
	members map[[2]uint32]int    // regular files per (device, inode)
}

func (x *extractor) hostPath(p string) (string, error) {
	parent, err := treepath.Confine(x.dir, path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(p)), nil
}

// write lays down file idx; size is the cpio data size, or -1 for the
// stripped format where the header's size applies to regular files.
func (x *extractor) write(idx int, r *bufio.Reader, size int64) error {
	f := x.files[idx]
	typ := f.mode & unix.S_IFMT
	if size < 0 {
		size = 0
		if typ == unix.S_IFREG {
			size = f.size
		}
		if typ == unix.S_IFLNK {
			size = int64(len(f.linkTo))
		}
	}
	dataPad := pad4(size)
	p, err := x.hostPath(f.path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	uid, gid := x.opts.Owner(f.user, f.group)
	perm := fs.FileMode(f.mode & 0o7777)
	key := [2]uint32{f.device, f.inode}
	switch typ {
	case unix.S_IFDIR:
		if err := skip(r, size+dataPad); err != nil {
			return err
		}
		if st, err := os.Lstat(p); err == nil && !st.IsDir() {
			os.Remove(p)
		}
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		x.st.Dirs++
		return x.finish(p, f, uid, gid, perm)
	case unix.S_IFLNK:
		target := make([]byte, size)
		if _, err := io.ReadFull(r, target); err != nil {
			return unexpected(err)
		}
		if err := skip(r, dataPad); err != nil {
			return err
		}
		os.Remove(p)
		if err := os.Symlink(string(target), p); err != nil {
			return err
		}
		x.st.Symlinks++
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{{Sec: int64(f.mtime)}, {Sec: int64(f.mtime)}}, unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFREG:
		if size > f.size {
			return fmt.Errorf("payload has %d bytes, header says %d", size, f.size)
		}
		linked := f.inode != 0 && x.members[key] > 1
		if linked && size == 0 && f.size > 0 {
			// rpm stores a hard link set's data with its last member.
			if first, ok := x.links[key]; ok {
				return x.link(first, p)
			}
			x.pending[key] = append(x.pending[key], idx)
			return skip(r, dataPad)
		}
		os.Remove(p)
		out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		n, err := io.Copy(out, io.LimitReader(r, size))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil && n != size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if err := skip(r, dataPad); err != nil {
			return err
		}
		x.st.Files++
		x.st.Bytes += size
		if err := x.finish(p, f, uid, gid, perm); err != nil {
			return err
		}
		if linked {
			x.links[key] = p
			for _, j := range x.pending[key] {
				q, err := x.hostPath(x.files[j].path)
				if err != nil {
					return err
				}
				if err := x.link(p, q); err != nil {
					return err
				}
			}
			delete(x.pending, key)
		}
		return nil
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err := skip(r, size+dataPad); err != nil {
			return err
		}
		os.Remove(p)
		dev := unix.Mkdev(f.rdev>>8, f.rdev&0xff)
		if err := unix.Mknod(p, typ|0o600, int(dev)); err != nil {
			return err
		}
		x.st.Devices++
		return x.finish(p, f, uid, gid, perm)
	}
	return fmt.Errorf("file type %o is not supported", typ)
}

func (x *extractor) link(existing, p string) error {
	os.Remove(p)
	if err := os.Link(existing, p); err != nil {
		return err
	}
	x.st.Hardlinks++
	return nil
}

// finish sets owner, mode, capabilities and time, in that order: chown
// clears setuid bits and capabilities.
func (x *extractor) finish(p string, f fileInfo, uid, gid int, perm fs.FileMode) error {
	if err := os.Lchown(p, uid, gid); err != nil {
		return err
	}
	if err := unix.Chmod(p, uint32(perm)); err != nil {
		return err
	}
	if f.caps != "" {
		v, err := CapXattr(f.caps)
		if err != nil {
			return err
		}
		if v != nil {
			if err := unix.Lsetxattr(p, "security.capability", v, 0); err != nil {
				return fmt.Errorf("setting capabilities %q: %w", f.caps, err)
			}
			x.st.Caps++
		}
	}
	setTime(p, f.mtime)
	return nil
}

func setTime(p string, mtime uint32) {
	ts := []unix.Timespec{{Sec: int64(mtime)}, {Sec: int64(mtime)}}
	unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
