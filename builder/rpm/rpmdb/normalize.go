package rpmdb

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/kiln-build/kiln/builder/rpm/header"
)

// ErrTransactions is returned when the rpmdb records more than one install
// transaction: their install times cannot all become one time without
// merging their Installtid records, which kiln does not do (a build
// installs in one transaction).
var ErrTransactions = errors.New("the rpmdb records more than one install transaction")

// envRegion matches the Berkeley DB environment's region files (__db.001
// and on): shared memory backed by files, with process ids, times and
// the open files' ids, made again by the next program that opens the
// database.
var envRegion = regexp.MustCompile(`^__db\.[0-9]{3}$`)

// Normalize makes the Berkeley DB rpmdb in dir reproducible, in place and
// without changing what rpm reads from it:
//
//   - every installed package's header gets installTime as its
//     INSTALLTIME and INSTALLTID (rpm before 4.18 takes both from the
//     clock), and the Installtid index its key;
//   - every database file gets a file id made from its name, not the one
//     BDB made from the inode, the clock and a random number;
//   - bytes BDB never reads (free space, padding, unused fields), which
//     hold whatever its buffers held before, are zeroed;
//   - the environment's region files (__db.NNN) are removed.
//
// Files keep their inode, owner, mode and extended attributes (their
// SELinux label). A directory with no Berkeley DB Packages (an sqlite or
// ndb rpmdb, or none) is left as it is.
func Normalize(dir string, installTime time.Time) error {
	pkgs := filepath.Join(dir, "Packages")
	head := make([]byte, 512)
	if f, err := os.Open(pkgs); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	} else {
		n, _ := f.Read(head)
		f.Close()
		if !isBDB(head[:n]) {
			return nil
		}
	}
	t := installTime.Unix()
	if t < 0 || t > 1<<32-1 {
		return fmt.Errorf("install time %v does not fit rpm's 32-bit INSTALLTIME", installTime)
	}

	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	dbs := map[string]*db{}
	var names []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if envRegion.MatchString(e.Name()) {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("removing the rpmdb's environment: %w", err)
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !isBDB(b) {
			continue // .rpm.lock, .dbenv.lock
		}
		d, err := parseDB(e.Name(), b)
		if err != nil {
			return err
		}
		dbs[e.Name()] = d
		names = append(names, e.Name())
	}
	sort.Strings(names)

	pk := dbs["Packages"]
	if pk == nil || !pk.hash {
		return fmt.Errorf("Packages is a btree, not rpm's hash database")
	}
	tids, err := setInstallTimes(pk, uint32(t))
	if err != nil {
		return err
	}
	if len(tids) > 1 {
		return fmt.Errorf("%w: INSTALLTID %v", ErrTransactions, tids)
	}
	if it := dbs["Installtid"]; it != nil && len(tids) == 1 {
		if err := rekeyInstalltid(it, tids[0], uint32(t)); err != nil {
			return err
		}
	}

	for _, name := range names {
		d := dbs[name]
		d.setFileID(FileID(name))
		if err := d.scrub(); err != nil {
			return err
		}
		if err := writeInPlace(filepath.Join(dir, name), d.buf); err != nil {
			return err
		}
	}
	return nil
}

// FileID is the Berkeley DB file id Normalize gives the database file
// name: the first 20 bytes of a SHA-256 of it. Ids only need to differ
// between the files one environment opens, which have different names.
func FileID(name string) [fileIDLen]byte {
	sum := sha256.Sum256([]byte("kiln rpmdb file id\x00" + name))
	var id [fileIDLen]byte
	copy(id[:], sum[:])
	return id
}

// writeInPlace overwrites a file's bytes without replacing the file, so
// its inode, owner, mode and labels stay.
func writeInPlace(path string, b []byte) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if bytes.Equal(old, b) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// setInstallTimes sets INSTALLTIME and INSTALLTID of every header in the
// Packages hash database to t, in place (the values keep their length, so
// nothing moves), and returns the INSTALLTIDs it replaced, sorted.
func setInstallTimes(d *db, t uint32) ([]uint32, error) {
	old := map[uint32]bool{}
	for n := 1; n < d.pages(); n++ {
		p := d.page(n)
		if p[pgType] != pHash && p[pgType] != pHashUnsorted {
			continue
		}
		items, err := d.hashItems(n, p)
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(items); i += 2 {
			key, data := items[i].b, items[i+1].b
			if key[0] != hKeyData || len(key) != 5 {
				return nil, fmt.Errorf("%s: page %d: a key of type %d and %d bytes, not a package number", d.name, n, key[0], len(key)-1)
			}
			if d.order.Uint32(key[1:]) == 0 {
				continue // record 0 holds the highest package number
			}
			var pieces [][]byte
			switch data[0] {
			case hKeyData:
				pieces = [][]byte{data[1:]}
			case hOffPage:
				if len(data) != 12 {
					return nil, fmt.Errorf("%s: page %d: an overflow reference of %d bytes", d.name, n, len(data))
				}
				pieces, err = d.overflow(d.u32(data, 4), d.u32(data, 8))
				if err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("%s: page %d: package %d's data has type %d", d.name, n, d.order.Uint32(key[1:]), data[0])
			}
			tids, err := setHeaderTimes(pieces, t)
			if err != nil {
				return nil, fmt.Errorf("%s: package %d: %w", d.name, d.order.Uint32(key[1:]), err)
			}
			for _, tid := range tids {
				old[tid] = true
			}
		}
	}
	var out []uint32
	for tid := range old {
		out = append(out, tid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// setHeaderTimes sets the INSTALLTIME and INSTALLTID of one header, held
// in pieces (an overflow chain), and returns the INSTALLTID it replaced.
// A header in the rpmdb is a package's header without its magic: entry
// and data counts, the index, the data; rpm appends what it records at
// install time (these two among them) after the package's immutable
// region, so kiln's package-file parser, which wants the region to cover
// everything, does not apply.
func setHeaderTimes(pieces [][]byte, t uint32) ([]uint32, error) {
	var blob []byte
	for _, p := range pieces {
		blob = append(blob, p...)
	}
	if len(blob) < 8 {
		return nil, fmt.Errorf("a header of %d bytes", len(blob))
	}
	il, dl := int(binary.BigEndian.Uint32(blob)), int(binary.BigEndian.Uint32(blob[4:]))
	if il < 1 || il > header.MaxEntries || dl > header.MaxData || 8+16*il+dl != len(blob) {
		return nil, fmt.Errorf("a header of %d bytes claims %d entries and %d bytes of data", len(blob), il, dl)
	}
	data := 8 + 16*il
	var tids []uint32
	for i := 0; i < il; i++ {
		e := blob[8+16*i:]
		tag := header.Tag(binary.BigEndian.Uint32(e))
		if tag != header.TagInstallTime && tag != header.TagInstallTID {
			continue
		}
		typ, off, count := header.Type(binary.BigEndian.Uint32(e[4:])), int(binary.BigEndian.Uint32(e[8:])), binary.BigEndian.Uint32(e[12:])
		if typ != header.TypeInt32 || count != 1 || off < 0 || off%4 != 0 || off+4 > dl {
			return nil, fmt.Errorf("tag %d is %s[%d] at %d, not one INT32 in the data", tag, typ, count, off)
		}
		at := data + off
		if tag == header.TagInstallTID {
			tids = append(tids, binary.BigEndian.Uint32(blob[at:]))
		}
		binary.BigEndian.PutUint32(blob[at:], t)
	}
	// Write the header back over the pieces it came from.
	rest := blob
	for _, p := range pieces {
		rest = rest[copy(p, rest):]
	}
	return tids, nil
}

// rekeyInstalltid changes the Installtid btree's key for the transaction
// old to t. Its keys are transaction ids, 4 bytes in the file's byte
// order; with one transaction there is one key, so the btree's order
// holds.
func rekeyInstalltid(d *db, old, t uint32) error {
	if d.hash {
		return fmt.Errorf("%s: a hash database, not rpm's btree index", d.name)
	}
	found := false
	for n := 1; n < d.pages(); n++ {
		p := d.page(n)
		var keys [][]byte
		switch p[pgType] {
		case pLBtree:
			ks, err := d.btreeLeafKeys(n, p)
			if err != nil {
				return err
			}
			for _, k := range ks {
				if k[2]&^bDelete == bKeyData {
					keys = append(keys, k[3:])
				}
			}
		case pIBtree:
			offs, err := d.items(n, p)
			if err != nil {
				return err
			}
			for _, o := range offs {
				// The first key of an internal page is empty: it is
				// never compared.
				if o+12 > len(p) || p[o+2]&^bDelete != bKeyData {
					continue
				}
				if l := d.u16(p, o); l > 0 && o+12+l <= len(p) {
					keys = append(keys, p[o+12:o+12+l])
				}
			}
		}
		for _, k := range keys {
			if len(k) != 4 {
				return fmt.Errorf("%s: page %d: a key of %d bytes, not a transaction id", d.name, n, len(k))
			}
			if v := d.order.Uint32(k); v != old {
				return fmt.Errorf("%s: key %d, a transaction no package records: %w", d.name, v, ErrTransactions)
			}
			d.order.PutUint32(k, t)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s: no key for transaction %d, which the packages record", d.name, old)
	}
	return nil
}
