package rpmdb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The Berkeley DB on-disk format, as far as rpm's databases use it: one
// file per database, hash (Packages) or btree (the indexes), no
// subdatabases, no checksums, no encryption. Layouts from BDB's
// dbinc/db_page.h (5.3, the version EL7 and EL8 ship).

// Meta-page fields (DBMETA, the first 72 bytes of page 0).
const (
	metaMagic     = 12 // u32
	metaVersion   = 16 // u32
	metaPageSize  = 20 // u32
	metaEncrypt   = 24 // u8: encryption algorithm, 0 for none
	metaType      = 25 // u8: P_HASHMETA or P_BTREEMETA
	metaFlags     = 26 // u8: DBMETA_CHKSUM, partitions
	metaLastPgno  = 32 // u32
	metaUID       = 52 // the 20-byte unique file id
	fileIDLen     = 20
	metaChecksums = 0x01 // DBMETA_CHKSUM
)

const (
	hashMagic  = 0x061561
	btreeMagic = 0x053162
)

// Page-header fields (PAGE, 26 bytes); the index of item offsets follows.
const (
	pgNext     = 16 // u32: next page of a chain
	pgEntries  = 20 // u16: items on the page (an overflow page's reference count)
	pgHFOffset = 22 // u16: lowest item offset (an overflow page's data length)
	pgType     = 25 // u8
	pgHeader   = 26
)

// Page types.
const (
	pInvalid      = 0 // unused, or on the free list
	pHashUnsorted = 2
	pIBtree       = 3
	pIRecno       = 4
	pLBtree       = 5
	pLRecno       = 6
	pOverflow     = 7
	pHashMeta     = 8
	pBtreeMeta    = 9
	pLDup         = 12
	pHash         = 13
)

// Hash item types (the first byte of an item on a hash page).
const (
	hKeyData   = 1
	hDuplicate = 2
	hOffPage   = 3 // type, 3 unused bytes, first overflow page, total length
	hOffDup    = 4 // type, 3 unused bytes, first page of the duplicates
)

// Btree item types; the top bit of the type byte marks a deleted item.
const (
	bKeyData   = 1 // length u16, type, data
	bDuplicate = 2 // as bOverflow
	bOverflow  = 3 // 2 unused bytes, type, 1 unused byte, page, total length
	bDelete    = 0x80
	bOverSize  = 12
)

// db is one Berkeley DB file held in memory.
type db struct {
	name     string
	buf      []byte
	order    binary.ByteOrder // the file's: the byte order of the machine that made it
	pageSize int
	hash     bool // a hash database; otherwise a btree
}

// isBDB reports whether b starts with a hash or btree meta page.
func isBDB(b []byte) bool {
	if len(b) < 72 {
		return false
	}
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		if m := o.Uint32(b[metaMagic:]); m == hashMagic || m == btreeMagic {
			return true
		}
	}
	return false
}

func parseDB(name string, b []byte) (*db, error) {
	if !isBDB(b) {
		return nil, fmt.Errorf("%s: not a Berkeley DB hash or btree file", name)
	}
	d := &db{name: name, buf: b, order: binary.LittleEndian}
	m := d.order.Uint32(b[metaMagic:])
	if m != hashMagic && m != btreeMagic {
		d.order = binary.BigEndian
		m = d.order.Uint32(b[metaMagic:])
	}
	d.hash = m == hashMagic
	version := d.order.Uint32(b[metaVersion:])
	switch {
	case d.hash && b[metaType] == pHashMeta && (version == 8 || version == 9):
	case !d.hash && b[metaType] == pBtreeMeta && version == 9:
	default:
		return nil, fmt.Errorf("%s: Berkeley DB meta page type %d, version %d: kiln reads hash 8-9 and btree 9 (BDB 4.6 to 5.3)", name, b[metaType], version)
	}
	if b[metaEncrypt] != 0 || b[metaFlags]&metaChecksums != 0 {
		return nil, fmt.Errorf("%s: an encrypted or checksummed Berkeley DB, which rpm does not make", name)
	}
	ps := int(d.order.Uint32(b[metaPageSize:]))
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%s: page size %d", name, ps)
	}
	d.pageSize = ps
	if len(b)%ps != 0 {
		return nil, fmt.Errorf("%s: %d bytes, not a whole number of %d-byte pages", name, len(b), ps)
	}
	if last := int(d.order.Uint32(b[metaLastPgno:])); last >= len(b)/ps {
		return nil, fmt.Errorf("%s: the meta page's last page %d is past the file's end (%d pages)", name, last, len(b)/ps)
	}
	return d, nil
}

func (d *db) pages() int { return len(d.buf) / d.pageSize }

func (d *db) page(n int) []byte { return d.buf[n*d.pageSize : (n+1)*d.pageSize] }

func (d *db) u16(b []byte, off int) int { return int(d.order.Uint16(b[off:])) }
func (d *db) u32(b []byte, off int) int { return int(d.order.Uint32(b[off:])) }

// setFileID replaces the file id BDB made at creation from the inode, the
// device, the clock and a random number.
func (d *db) setFileID(id [fileIDLen]byte) { copy(d.buf[metaUID:metaUID+fileIDLen], id[:]) }

// items returns the item offsets of a hash or btree page, after checking
// they lie between the index and the page's end.
func (d *db) items(n int, p []byte) ([]int, error) {
	entries := d.u16(p, pgEntries)
	lo := pgHeader + 2*entries
	if lo > len(p) {
		return nil, fmt.Errorf("%s: page %d claims %d items", d.name, n, entries)
	}
	offs := make([]int, entries)
	for i := range offs {
		offs[i] = d.u16(p, pgHeader+2*i)
		if offs[i] < lo || offs[i] >= len(p) {
			return nil, fmt.Errorf("%s: page %d: item %d at offset %d, outside the page's item area", d.name, n, i, offs[i])
		}
	}
	return offs, nil
}

// hashItem is one item of a hash page: where it starts on the page, and
// its bytes, the type byte first.
type hashItem struct {
	off int
	b   []byte
}

// hashItems returns the items of a hash page. Items lie in index order
// from the page's end down, each one ending where the one before begins
// (that is how BDB finds their lengths).
func (d *db) hashItems(n int, p []byte) ([]hashItem, error) {
	offs, err := d.items(n, p)
	if err != nil {
		return nil, err
	}
	items := make([]hashItem, len(offs))
	end := len(p)
	for i, o := range offs {
		if o >= end {
			return nil, fmt.Errorf("%s: hash page %d: item %d at %d does not end at %d, where item %d starts", d.name, n, i, o, end, i-1)
		}
		items[i] = hashItem{off: o, b: p[o:end]}
		end = o
	}
	if len(offs) > 0 && d.u16(p, pgHFOffset) != offs[len(offs)-1] {
		return nil, fmt.Errorf("%s: hash page %d: the lowest item is at %d, the page header says %d", d.name, n, offs[len(offs)-1], d.u16(p, pgHFOffset))
	}
	if len(items)%2 != 0 {
		return nil, fmt.Errorf("%s: hash page %d: %d items, not key/data pairs", d.name, n, len(items))
	}
	return items, nil
}

// overflow returns the pieces of an item stored on a chain of overflow
// pages, in order, and checks they add up to its length.
func (d *db) overflow(first, length int) ([][]byte, error) {
	var pieces [][]byte
	total := 0
	for pg, seen := first, 0; pg != 0; seen++ {
		if pg >= d.pages() || seen >= d.pages() {
			return nil, fmt.Errorf("%s: overflow chain from page %d: bad page %d", d.name, first, pg)
		}
		p := d.page(pg)
		if p[pgType] != pOverflow {
			return nil, fmt.Errorf("%s: overflow chain from page %d: page %d has type %d", d.name, first, pg, p[pgType])
		}
		l := d.u16(p, pgHFOffset)
		if pgHeader+l > len(p) {
			return nil, fmt.Errorf("%s: overflow page %d holds %d bytes", d.name, pg, l)
		}
		pieces = append(pieces, p[pgHeader:pgHeader+l])
		total += l
		pg = d.u32(p, pgNext)
	}
	if total != length {
		return nil, fmt.Errorf("%s: overflow chain from page %d holds %d bytes, its item says %d", d.name, first, total, length)
	}
	return pieces, nil
}

// btreeLeafKeys returns the key items of a btree leaf page (the even
// items; the odd ones are their data).
func (d *db) btreeLeafKeys(n int, p []byte) ([][]byte, error) {
	offs, err := d.items(n, p)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i := 0; i < len(offs); i += 2 {
		it, _, err := d.btreeItem(n, p, offs[i])
		if err != nil {
			return nil, err
		}
		keys = append(keys, it)
	}
	return keys, nil
}

// btreeItem returns the item of a btree leaf page at off, and which of its
// bytes BDB never reads (padding and unused fields), relative to off.
func (d *db) btreeItem(n int, p []byte, off int) (item []byte, unused []int, err error) {
	if off+3 > len(p) {
		return nil, nil, fmt.Errorf("%s: btree page %d: item at %d runs off the page", d.name, n, off)
	}
	switch p[off+2] &^ bDelete {
	case bKeyData:
		l := 3 + d.u16(p, off)
		if off+l > len(p) {
			return nil, nil, fmt.Errorf("%s: btree page %d: item at %d runs off the page", d.name, n, off)
		}
		return p[off : off+l], nil, nil
	case bDuplicate, bOverflow:
		if off+bOverSize > len(p) {
			return nil, nil, fmt.Errorf("%s: btree page %d: item at %d runs off the page", d.name, n, off)
		}
		return p[off : off+bOverSize], []int{0, 1, 3}, nil
	}
	return nil, nil, fmt.Errorf("%s: btree page %d: item at %d has type %d", d.name, n, off, p[off+2])
}

// errUnknownPage is for page types rpm's databases never hold.
var errUnknownPage = errors.New("a page type rpm's databases do not hold")

// scrub zeroes every byte of the file's pages that BDB never reads: the
// free space between a page's index and its items, the bytes of a page
// on the free list, the tail of an overflow page, alignment padding and
// unused fields in items. BDB leaves there whatever its buffer held
// before (a copy of the meta page, items since moved, uninitialised
// memory), which differs from one run to the next.
func (d *db) scrub() error {
	for n := 1; n < d.pages(); n++ {
		p := d.page(n)
		used := make([]bool, len(p))
		mark := func(off, l int, except ...int) {
			for i := off; i < off+l; i++ {
				used[i] = true
			}
			for _, e := range except {
				used[off+e] = false
			}
		}
		mark(0, pgHeader)
		switch p[pgType] {
		case pInvalid:
		case pOverflow:
			l := d.u16(p, pgHFOffset)
			if pgHeader+l > len(p) {
				return fmt.Errorf("%s: overflow page %d holds %d bytes", d.name, n, l)
			}
			mark(pgHeader, l)
		case pHash, pHashUnsorted:
			items, err := d.hashItems(n, p)
			if err != nil {
				return err
			}
			mark(pgHeader, 2*len(items))
			for _, it := range items {
				switch it.b[0] {
				case hOffPage, hOffDup:
					mark(it.off, len(it.b), 1, 2, 3)
				default:
					mark(it.off, len(it.b))
				}
			}
		case pLBtree, pLDup, pLRecno:
			offs, err := d.items(n, p)
			if err != nil {
				return err
			}
			mark(pgHeader, 2*len(offs))
			for _, o := range offs {
				it, unused, err := d.btreeItem(n, p, o)
				if err != nil {
					return err
				}
				mark(o, len(it), unused...)
			}
		case pIBtree:
			offs, err := d.items(n, p)
			if err != nil {
				return err
			}
			mark(pgHeader, 2*len(offs))
			for _, o := range offs {
				// BINTERNAL: length u16, type, unused, child page, record
				// count, then the key (a BOVERFLOW for an overflow key).
				if o+12 > len(p) || o+12+d.u16(p, o) > len(p) {
					return fmt.Errorf("%s: btree internal page %d: item at %d runs off the page", d.name, n, o)
				}
				l := d.u16(p, o)
				if p[o+2]&^bDelete != bKeyData && l == bOverSize {
					// The key is a BOVERFLOW, with its own unused bytes.
					mark(o, 12+l, 3, 12+0, 12+1, 12+3)
				} else {
					mark(o, 12+l, 3)
				}
			}
		case pIRecno:
			offs, err := d.items(n, p)
			if err != nil {
				return err
			}
			mark(pgHeader, 2*len(offs))
			for _, o := range offs {
				if o+8 > len(p) {
					return fmt.Errorf("%s: recno internal page %d: item at %d runs off the page", d.name, n, o)
				}
				mark(o, 8)
			}
		default:
			return fmt.Errorf("%s: page %d has type %d: %w", d.name, n, p[pgType], errUnknownPage)
		}
		for i, u := range used {
			if !u {
				p[i] = 0
			}
		}
	}
	return nil
}
