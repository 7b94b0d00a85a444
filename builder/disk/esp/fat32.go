package esp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

const (
	sectorSize      = 512
	reservedSectors = 32
	numFATs         = 2
	fsInfoSector    = 1
	backupBoot      = 6
	rootCluster     = 2
	// FAT32 needs at least this many clusters; fewer makes it FAT16 by
	// definition (Microsoft's fatgen103).
	minClusters = 65525
	maxClusters = 0x0FFFFFF5 - 2
	endOfChain  = 0x0FFFFFFF
	dirEntry    = 32

	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLFN       = 0x0F
)

// Options says how the filesystem is labelled and stamped.
type Options struct {
	// Label is the volume label, at most 11 characters from the FAT short
	// name set; it is stored upper-cased. Empty means no label ("NO NAME").
	Label string
	// VolumeID is the volume serial number (shown as XXXX-XXXX by blkid and
	// used as UUID= in fstab).
	VolumeID uint32
	// Time stamps every directory entry (create, write and access times).
	Time time.Time
	// HiddenSectors is the LBA of the partition's first sector, recorded in
	// the boot sector as some firmware expects.
	HiddenSectors uint32
}

// Write writes a FAT32 filesystem of size bytes at byte offset off of w,
// holding the regular files and directories of tree (nil: none). The region must read
// as zeros beforehand (a freshly truncated file): only non-zero sectors are
// written. Symbolic links and special files are refused: FAT cannot hold
// them.
func Write(ctx context.Context, w io.WriterAt, off, size int64, tree fs.FS, opts Options) error {
	label, err := volumeLabel(opts.Label)
	if err != nil {
		return err
	}
	g, err := newGeometry(size)
	if err != nil {
		return err
	}
	root, err := readTree(tree)
	if err != nil {
		return err
	}
	stamp := fatTimestamp(opts.Time)
	if err := assignShortNames(root); err != nil {
		return err
	}
	fat := make([]uint32, g.clusters+2)
	fat[0] = 0x0FFFFF00 | 0xF8
	fat[1] = endOfChain
	next := uint32(rootCluster)
	var allocErr error
	allocate := func(n *node, bytes int64) {
		count := uint32((bytes + int64(g.clusterSize) - 1) / int64(g.clusterSize))
		if count == 0 || allocErr != nil {
			return
		}
		if int64(next)+int64(count) > int64(g.clusters)+2 {
			allocErr = fmt.Errorf("esp tree does not fit in %d bytes (at %q)", size, n.path)
			return
		}
		n.cluster = next
		for c := next; c < next+count-1; c++ {
			fat[c] = c + 1
		}
		fat[next+count-1] = endOfChain
		next += count
	}
	// Pre-order, lexical: the root directory gets cluster 2, and each
	// directory's entries precede its contents on disk.
	var walk func(n *node)
	walk = func(n *node) {
		if n.dir {
			allocate(n, int64(n.entryCount(n == root))*dirEntry)
			for _, c := range n.children {
				walk(c)
			}
			return
		}
		allocate(n, n.size)
	}
	walk(root)
	if allocErr != nil {
		return allocErr
	}
	used := next - rootCluster

	if err := writeAt(w, off, g.bootSector(label, opts.VolumeID, opts.HiddenSectors)); err != nil {
		return err
	}
	fsinfo := g.fsInfo(g.clusters-used, next)
	for _, s := range []struct {
		sector int64
		b      []byte
	}{
		{fsInfoSector, fsinfo},
		{backupBoot, g.bootSector(label, opts.VolumeID, opts.HiddenSectors)},
		{backupBoot + fsInfoSector, fsinfo},
	} {
		if err := writeAt(w, off+s.sector*sectorSize, s.b); err != nil {
			return err
		}
	}
	// Only the part of the FAT that maps allocated clusters is non-zero.
	fatBytes := make([]byte, roundUp(int64(next)*4, sectorSize))
	for i := range int(next) {
		binary.LittleEndian.PutUint32(fatBytes[i*4:], fat[i])
	}
	for i := range int64(numFATs) {
		if err := writeAt(w, off+(reservedSectors+i*int64(g.fatSectors))*sectorSize, fatBytes); err != nil {
			return err
		}
	}
	var emit func(n, parent *node) error
	emit = func(n, parent *node) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !n.dir {
			return copyFile(tree, n, w, off+g.clusterOffset(n.cluster))
		}
		b := n.directoryBytes(parent, n == root, label, stamp, g.clusterSize)
		if err := writeAt(w, off+g.clusterOffset(n.cluster), b); err != nil {
			return err
		}
		for _, c := range n.children {
			if err := emit(c, n); err != nil {
				return err
			}
		}
		return nil
	}
	return emit(root, nil)
}

type geometry struct {
	totalSectors      uint32
	sectorsPerCluster uint32
	clusterSize       int
	fatSectors        uint32
	clusters          uint32
}

func newGeometry(size int64) (geometry, error) {
	if size%sectorSize != 0 {
		return geometry{}, fmt.Errorf("esp size %d is not a multiple of %d", size, sectorSize)
	}
	if size/sectorSize > 0xFFFFFFFF {
		return geometry{}, fmt.Errorf("esp size %d is too large for FAT32", size)
	}
	g := geometry{totalSectors: uint32(size / sectorSize)}
	// Cluster sizes from Microsoft's table for FAT32 volumes (fatgen103).
	switch {
	case size <= 260<<20:
		g.sectorsPerCluster = 1
	case size <= 8<<30:
		g.sectorsPerCluster = 8
	case size <= 16<<30:
		g.sectorsPerCluster = 16
	case size <= 32<<30:
		g.sectorsPerCluster = 32
	default:
		g.sectorsPerCluster = 64
	}
	g.clusterSize = int(g.sectorsPerCluster) * sectorSize
	if g.totalSectors <= reservedSectors {
		return geometry{}, fmt.Errorf("esp size %d is too small for FAT32", size)
	}
	// The FAT must map every data cluster plus the two reserved entries;
	// grow it until it does (the data area shrinks as the FAT grows).
	for fatSectors := uint32(1); ; {
		data := int64(g.totalSectors) - reservedSectors - numFATs*int64(fatSectors)
		if data <= 0 {
			return geometry{}, fmt.Errorf("esp size %d is too small for FAT32", size)
		}
		clusters := uint32(data / int64(g.sectorsPerCluster))
		need := uint32((int64(clusters)+2)*4+sectorSize-1) / sectorSize
		if need <= fatSectors {
			g.fatSectors, g.clusters = fatSectors, clusters
			break
		}
		fatSectors = need
	}
	if g.clusters < minClusters {
		return geometry{}, fmt.Errorf("esp size %d gives %d clusters, FAT32 needs at least %d (make it at least 33 MiB)", size, g.clusters, minClusters)
	}
	if g.clusters > maxClusters {
		return geometry{}, fmt.Errorf("esp size %d gives too many clusters for FAT32", size)
	}
	return g, nil
}

func (g geometry) clusterOffset(c uint32) int64 {
	first := int64(reservedSectors) + numFATs*int64(g.fatSectors)
	return (first + int64(c-rootCluster)*int64(g.sectorsPerCluster)) * sectorSize
}

func (g geometry) bootSector(label [11]byte, volumeID, hidden uint32) []byte {
	b := make([]byte, sectorSize)
	copy(b[0:], []byte{0xEB, 0x58, 0x90})
	copy(b[3:11], "MSWIN4.1")
	le := binary.LittleEndian
	le.PutUint16(b[11:], sectorSize)
	b[13] = byte(g.sectorsPerCluster)
	le.PutUint16(b[14:], reservedSectors)
	b[16] = numFATs
	b[21] = 0xF8 // fixed disk
	le.PutUint16(b[24:], 63)
	le.PutUint16(b[26:], 255)
	le.PutUint32(b[28:], hidden)
	le.PutUint32(b[32:], g.totalSectors)
	le.PutUint32(b[36:], g.fatSectors)
	le.PutUint32(b[44:], rootCluster)
	le.PutUint16(b[48:], fsInfoSector)
	le.PutUint16(b[50:], backupBoot)
	b[64] = 0x80
	b[66] = 0x29
	le.PutUint32(b[67:], volumeID)
	copy(b[71:82], label[:])
	copy(b[82:90], "FAT32   ")
	// Not bootable: "int 0x18" asks the BIOS for the next boot device.
	copy(b[0x5A:], []byte{0xCD, 0x18, 0xEB, 0xFE})
	b[510], b[511] = 0x55, 0xAA
	return b
}

func (g geometry) fsInfo(free, nextFree uint32) []byte {
	b := make([]byte, sectorSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0x41615252)
	le.PutUint32(b[484:], 0x61417272)
	le.PutUint32(b[488:], free)
	le.PutUint32(b[492:], nextFree)
	le.PutUint32(b[508:], 0xAA550000)
	return b
}

// node is one file or directory of the tree being written.
type node struct {
	path     string // slash-separated, relative to the tree root ("." for it)
	name     string
	dir      bool
	size     int64
	children []*node
	cluster  uint32
	short    [11]byte
	caseBits byte // NTRes: 0x08 lower-case base, 0x10 lower-case extension
	lfn      bool
}

func readTree(tree fs.FS) (*node, error) {
	root := &node{path: ".", dir: true}
	if tree == nil {
		return root, nil
	}
	dirs := map[string]*node{".": root}
	err := fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading esp tree: %w", err)
		}
		if p == "." {
			if !d.IsDir() {
				return errors.New("esp tree root is not a directory")
			}
			return nil
		}
		parent := dirs[path.Dir(p)]
		n := &node{path: p, name: d.Name()}
		switch {
		case d.IsDir():
			n.dir = true
			dirs[p] = n
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("reading esp tree: %w", err)
			}
			if info.Size() > 0xFFFFFFFF {
				return fmt.Errorf("esp file %q is larger than FAT32's 4 GiB limit", p)
			}
			n.size = info.Size()
		default:
			return fmt.Errorf("esp file %q is a %v, FAT32 holds only regular files and directories", p, d.Type())
		}
		if utf16Len(n.name) > 255 {
			return fmt.Errorf("esp file %q has a name longer than 255 characters", p)
		}
		parent.children = append(parent.children, n)
		return nil
	})
	return root, err
}

func copyFile(tree fs.FS, n *node, w io.WriterAt, off int64) error {
	if n.size == 0 {
		return nil
	}
	f, err := tree.Open(n.path)
	if err != nil {
		return fmt.Errorf("copying esp file: %w", err)
	}
	defer f.Close()
	copied, err := io.Copy(io.NewOffsetWriter(w, off), io.LimitReader(f, n.size))
	if err != nil {
		return fmt.Errorf("copying esp file %q: %w", n.path, err)
	}
	if copied != n.size {
		return fmt.Errorf("copying esp file %q: got %d bytes, want %d (file changed while copying)", n.path, copied, n.size)
	}
	return nil
}

// entryCount is the number of 32-byte directory entries n needs.
func (n *node) entryCount(isRoot bool) int {
	count := 2 // "." and ".."
	if isRoot {
		count = 1 // the volume label
	}
	for _, c := range n.children {
		count++
		if c.lfn {
			count += (utf16Len(c.name) + 12) / 13
		}
	}
	return count
}

func (n *node) directoryBytes(parent *node, isRoot bool, label [11]byte, t stamp, clusterSize int) []byte {
	var buf bytes.Buffer
	if isRoot {
		if label != noName {
			buf.Write(shortEntry(label, attrVolumeID, 0, 0, 0, t))
		}
	} else {
		dot := [11]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
		buf.Write(shortEntry(dot, attrDirectory, 0, n.cluster, 0, t))
		dotdot := dot
		dotdot[1] = '.'
		// ".." of a directory in the root points at cluster 0, not the
		// root's cluster (Microsoft's fatgen103; fsck.vfat checks it).
		parentCluster := uint32(0)
		if parent != nil && parent.path != "." {
			parentCluster = parent.cluster
		}
		buf.Write(shortEntry(dotdot, attrDirectory, 0, parentCluster, 0, t))
	}
	for _, c := range n.children {
		if c.lfn {
			buf.Write(lfnEntries(c.name, c.short))
		}
		attr := byte(attrArchive)
		size := uint32(c.size)
		if c.dir {
			attr, size = attrDirectory, 0
		}
		buf.Write(shortEntry(c.short, attr, c.caseBits, c.cluster, size, t))
	}
	b := buf.Bytes()
	return append(b, make([]byte, int(roundUp(int64(len(b)), int64(clusterSize)))-len(b))...)
}

func shortEntry(name [11]byte, attr, caseBits byte, cluster, size uint32, t stamp) []byte {
	e := make([]byte, dirEntry)
	copy(e[0:11], name[:])
	if e[0] == 0xE5 {
		e[0] = 0x05
	}
	e[11] = attr
	e[12] = caseBits
	le := binary.LittleEndian
	if attr != attrVolumeID {
		e[13] = t.tenths
		le.PutUint16(e[14:], t.time)
		le.PutUint16(e[16:], t.date)
		le.PutUint16(e[18:], t.date)
	}
	le.PutUint16(e[20:], uint16(cluster>>16))
	le.PutUint16(e[22:], t.time)
	le.PutUint16(e[24:], t.date)
	le.PutUint16(e[26:], uint16(cluster))
	le.PutUint32(e[28:], size)
	return e
}

type stamp struct {
	date, time uint16
	tenths     byte
}

// fatTimestamp converts t (taken as UTC) to FAT's date and time fields,
// clamped to the range FAT can hold (1980-01-01 to 2107-12-31).
func fatTimestamp(t time.Time) stamp {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	return stamp{
		date:   uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day()),
		time:   uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2),
		tenths: byte(t.Second()%2) * 100,
	}
}

func writeAt(w io.WriterAt, off int64, b []byte) error {
	if _, err := w.WriteAt(b, off); err != nil {
		return fmt.Errorf("writing esp at byte %d: %w", off, err)
	}
	return nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

var noName = [11]byte{'N', 'O', ' ', 'N', 'A', 'M', 'E', ' ', ' ', ' ', ' '}

func volumeLabel(s string) ([11]byte, error) {
	if s == "" {
		return noName, nil
	}
	var l [11]byte
	if len(s) > 11 {
		return l, fmt.Errorf("esp label %q is longer than 11 characters", s)
	}
	for i := range l {
		l[i] = ' '
	}
	for i, r := range strings.ToUpper(s) {
		if r != ' ' && !shortNameChar(r) {
			return l, fmt.Errorf("esp label %q: character %q is not allowed in a FAT label", s, r)
		}
		l[i] = byte(r)
	}
	return l, nil
}
