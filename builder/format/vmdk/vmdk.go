// Package vmdk writes raw disks as streamOptimized VMDK extents, the
// variant vSphere imports from OVF/OVA packages (VMware "Virtual Disk
// Format 5.0", stream-optimized compressed sparse extents).
//
// The extent is written strictly sequentially: the header (with the grain
// directory "at end"), the embedded descriptor, then every non-zero 64 KiB
// grain as a grain marker plus its zlib-compressed bytes, each grain table
// behind a marker after the grains it maps, the grain directory behind its
// marker, a footer (the header with the directory's real offset) and the
// end-of-stream marker. Grains are compressed on all cores; the output
// order, and so the file, is the same on every run.
//
//	enc := vmdk.Encoder{FileName: "node-disk1.vmdk"}
//	err := enc.Encode(ctx, f, raw, size)
package vmdk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/zlib"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/internal/ordered"
)

const (
	sector          = 512
	grainSectors    = 128 // 64 KiB grains
	grainSize       = grainSectors * sector
	gtEntries       = 512 // grain table entries: one table maps 32 MiB
	gtSectors       = gtEntries * 4 / sector
	descSectors     = 20
	overheadSectors = 128 // grains start at 64 KiB

	flagNewlineTest = 1 << 0
	flagCompressed  = 1 << 16
	flagMarkers     = 1 << 17

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3

	gdAtEnd = ^uint64(0)
)

// Encoder writes streamOptimized VMDK extents. The zero value writes an
// lsilogic disk named disk.vmdk at the default compression level.
type Encoder struct {
	// FileName is the extent name in the embedded descriptor, normally the
	// base name the file is stored under. Default "disk.vmdk".
	FileName string
	// AdapterType is ddb.adapterType: "lsilogic" (default; what VMware
	// writes for SCSI disks, PVSCSI included, since the OVF names the real
	// controller), "buslogic", "legacyESX" or "ide". It also picks the
	// geometry: 255 heads for SCSI, 16 for IDE.
	AdapterType string
	// HardwareVersion is ddb.virtualHWVersion. VMware's own converter
	// writes 4 (the field only matters to ESX 3 and older); 0 means 4.
	HardwareVersion int
	// UUID, when set, is written as ddb.uuid.
	UUID *[16]byte
	// ContentID is the descriptor's CID. 0 derives one from the capacity
	// and UUID, so equal inputs give equal files.
	ContentID uint32
	// Level is the deflate level, 1 (fastest) to 9 (smallest); 0 means 6,
	// what qemu-img and zlib use by default.
	Level int
	// Workers is the number of compressing goroutines; 0 means GOMAXPROCS.
	Workers int
}

func (e Encoder) withDefaults() (Encoder, error) {
	if e.FileName == "" {
		e.FileName = "disk.vmdk"
	}
	if strings.ContainsAny(e.FileName, "\"\n\r/") {
		return e, fmt.Errorf("vmdk file name %q: must not contain quotes, slashes or newlines", e.FileName)
	}
	switch e.AdapterType {
	case "":
		e.AdapterType = "lsilogic"
	case "lsilogic", "buslogic", "legacyESX", "ide":
	default:
		return e, fmt.Errorf("vmdk adapter type %q: want lsilogic, buslogic, legacyESX or ide", e.AdapterType)
	}
	if e.HardwareVersion == 0 {
		e.HardwareVersion = 4
	}
	if e.Level == 0 {
		e.Level = 6
	}
	if e.Level < 1 || e.Level > 9 {
		return e, fmt.Errorf("vmdk compression level %d: want 1 to 9", e.Level)
	}
	if e.Workers <= 0 {
		e.Workers = runtime.GOMAXPROCS(0)
	}
	return e, nil
}

// header is the sparse extent header; the footer is the same structure.
type header struct {
	capacity    uint64 // sectors
	descSectors uint64
	gdOffset    uint64 // sectors; gdAtEnd in the leading header
}

func (h header) marshal() []byte {
	b := make([]byte, sector)
	le := binary.LittleEndian
	copy(b, "KDMV")
	le.PutUint32(b[4:], 3) // version 3: stream-optimized
	le.PutUint32(b[8:], flagNewlineTest|flagCompressed|flagMarkers)
	le.PutUint64(b[12:], h.capacity)
	le.PutUint64(b[20:], grainSectors)
	le.PutUint64(b[28:], 1) // descriptor offset
	le.PutUint64(b[36:], h.descSectors)
	le.PutUint32(b[44:], gtEntries)
	le.PutUint64(b[48:], 0) // no redundant grain directory
	le.PutUint64(b[56:], h.gdOffset)
	le.PutUint64(b[64:], overheadSectors)
	b[72] = 0 // clean shutdown
	b[73], b[74], b[75], b[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(b[77:], 1) // deflate
	return b
}

func marker(val uint64, typ uint32) []byte {
	b := make([]byte, sector)
	binary.LittleEndian.PutUint64(b, val)
	binary.LittleEndian.PutUint32(b[12:], typ)
	return b
}

// descriptor returns the embedded descriptor text.
func (e Encoder) descriptor(capacity uint64) string {
	seed := sha256.New()
	fmt.Fprintf(seed, "kiln vmdk %d", capacity)
	if e.UUID != nil {
		seed.Write(e.UUID[:])
	}
	sum := seed.Sum(nil)
	cid := e.ContentID
	if cid == 0 {
		cid = binary.BigEndian.Uint32(sum)
	}
	if cid >= 0xfffffffe { // these mean "no parent" to some readers
		cid = 0x1
	}
	heads, sectors, maxCyl := uint64(255), uint64(63), uint64(65535)
	if e.AdapterType == "ide" {
		heads, maxCyl = 16, 16383
	}
	cylinders := min((capacity+heads*sectors-1)/(heads*sectors), maxCyl)

	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", cid)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE \"%s\"\n\n", capacity, e.FileName)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.adapterType = \"%s\"\n", e.AdapterType)
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"%d\"\nddb.geometry.sectors = \"%d\"\n", cylinders, heads, sectors)
	fmt.Fprintf(&b, "ddb.longContentID = \"%x%08x\"\n", sum[4:16], cid)
	if u := e.UUID; u != nil {
		fmt.Fprintf(&b, "ddb.uuid = \"%02x %02x %02x %02x %02x %02x %02x %02x-%02x %02x %02x %02x %02x %02x %02x %02x\"\n",
			u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15])
	}
	fmt.Fprintf(&b, "ddb.virtualHWVersion = \"%d\"\n", e.HardwareVersion)
	return b.String()
}

type grain struct {
	index int64
	data  *[]byte // raw grain in, compressed grain with its marker out
}

// Encode writes disk as a streamOptimized VMDK extent to dst.
func (e Encoder) Encode(ctx context.Context, dst io.Writer, disk io.ReaderAt, size int64) error {
	if err := format.CheckSize(size); err != nil {
		return err
	}
	e, err := e.withDefaults()
	if err != nil {
		return err
	}
	capacity := uint64(size / sector)
	grains := (size + grainSize - 1) / grainSize
	tables := (grains + gtEntries - 1) / gtEntries

	desc := e.descriptor(capacity)
	if len(desc) > descSectors*sector {
		return fmt.Errorf("vmdk descriptor is %d bytes, more than %d", len(desc), descSectors*sector)
	}
	// Markers are single sectors: batch them with the grains.
	bw := bufio.NewWriterSize(dst, 1<<20)
	w := &writer{w: bw}
	w.write(header{capacity: capacity, descSectors: descSectors, gdOffset: gdAtEnd}.marshal())
	w.write([]byte(desc))
	w.write(make([]byte, overheadSectors*sector-sector-len(desc)))

	s := &stream{w: w, pos: overheadSectors, gd: make([]uint32, tables), gt: make([]uint32, gtEntries)}
	pool := sync.Pool{New: func() any { b := make([]byte, grainSize); return &b }}
	zpool := sync.Pool{New: func() any {
		z, _ := zlib.NewWriterLevel(nil, e.Level) // level is validated
		return z
	}}
	blocks := format.NewBlockReader(disk, size, grainSize)
	err = ordered.Run(ctx, e.Workers, 4*e.Workers,
		func() (grain, bool, error) {
			buf := pool.Get().(*[]byte)
			*buf = (*buf)[:grainSize]
			i, ok, err := blocks.Next(*buf)
			if !ok || err != nil {
				pool.Put(buf)
				if err != nil {
					err = fmt.Errorf("reading disk: %w", err)
				}
				return grain{}, false, err
			}
			return grain{index: i, data: buf}, true, nil
		},
		func(g grain) (grain, error) {
			out := pool.Get().(*[]byte)
			packed, err := compress(zpool.Get().(*zlib.Writer), &zpool, g.index, *g.data, (*out)[:0])
			pool.Put(g.data)
			*out = packed
			return grain{index: g.index, data: out}, err
		},
		func(g grain) error {
			s.grain(g.index, *g.data)
			pool.Put(g.data)
			return w.err
		})
	if err != nil {
		return fmt.Errorf("writing vmdk grains: %w", err)
	}
	s.tablesUpTo(tables)
	gdSectors := (tables*4 + sector - 1) / sector
	w.write(marker(uint64(gdSectors), markerGD))
	gdOffset := s.pos + 1
	gd := make([]byte, gdSectors*sector)
	for i, v := range s.gd {
		binary.LittleEndian.PutUint32(gd[i*4:], v)
	}
	w.write(gd)
	w.write(marker(1, markerFooter))
	w.write(header{capacity: capacity, descSectors: descSectors, gdOffset: gdOffset}.marshal())
	w.write(marker(0, markerEOS))
	if w.err == nil {
		w.err = bw.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("writing vmdk: %w", w.err)
	}
	if s.overflow {
		return fmt.Errorf("vmdk extent would exceed %d sectors", uint64(1)<<32)
	}
	return nil
}

// compress builds a grain marker (LBA, compressed size) followed by the
// zlib stream of the grain, padded to a whole sector, appended to out.
func compress(z *zlib.Writer, zpool *sync.Pool, index int64, raw []byte, out []byte) ([]byte, error) {
	defer zpool.Put(z)
	buf := bytes.NewBuffer(out)
	buf.Write(make([]byte, 12))
	z.Reset(buf)
	if _, err := z.Write(raw); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint64(b, uint64(index*grainSectors))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-12))
	if pad := len(b) % sector; pad != 0 {
		b = append(b, make([]byte, sector-pad)...)
	}
	return b, nil
}

// stream tracks the write position and the tables of the grains written.
type stream struct {
	w        *writer
	pos      uint64 // next sector
	gd       []uint32
	gt       []uint32
	table    int64 // grain table being filled
	overflow bool
}

func (s *stream) sectorOf() uint32 {
	if s.pos >= 1<<32 {
		s.overflow = true
	}
	return uint32(s.pos)
}

func (s *stream) grain(index int64, packed []byte) {
	s.tablesUpTo(index / gtEntries)
	s.gt[index%gtEntries] = s.sectorOf()
	s.w.write(packed)
	s.pos += uint64(len(packed) / sector)
}

// tablesUpTo writes the grain tables before table n, empty ones included,
// so every directory entry points at a table.
func (s *stream) tablesUpTo(n int64) {
	for s.table < n {
		s.w.write(marker(gtSectors, markerGT))
		s.pos++
		s.gd[s.table] = s.sectorOf()
		b := make([]byte, gtSectors*sector)
		for i, v := range s.gt {
			binary.LittleEndian.PutUint32(b[i*4:], v)
		}
		s.w.write(b)
		s.pos += gtSectors
		clear(s.gt)
		s.table++
	}
}

// writer keeps the first write error.
type writer struct {
	w   io.Writer
	err error
}

func (w *writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}
