// Package qcow2 writes raw disks as qcow2 version 3 images (qemu's
// "compat 1.1"), in one sequential pass: a first pass over the disk finds
// the clusters that hold data, then header, L1 table, refcount table and
// blocks, L2 tables and the data clusters are written in that order. Only
// non-zero 64 KiB clusters are stored; nothing is compressed (like
// qemu-img's default). The output is a function of the disk's bytes only.
//
//	err := qcow2.Encoder{}.Encode(ctx, f, raw, size)
package qcow2

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/internal/ordered"
)

const (
	clusterBits  = 16
	clusterSize  = 1 << clusterBits
	l2Entries    = clusterSize / 8 // one L2 table maps 512 MiB
	refcountBits = 16
	refsPerBlock = clusterSize * 8 / refcountBits
	headerLength = 104 // version 3 header without optional fields
	oflagCopied  = 1 << 63
	maxRun       = 16 // clusters read and written in one call
)

// Encoder writes qcow2 v3 images. The zero value is ready to use.
type Encoder struct{}

// Encode writes disk as a qcow2 image to dst.
func (Encoder) Encode(ctx context.Context, dst io.Writer, disk io.ReaderAt, size int64) error {
	if err := format.CheckSize(size); err != nil {
		return err
	}
	alloc, err := scan(ctx, disk, size)
	if err != nil {
		return fmt.Errorf("scanning disk for data: %w", err)
	}
	l := plan(size, alloc)
	w := &writer{w: dst}
	l.writeMetadata(w, alloc)
	if w.err != nil {
		return fmt.Errorf("writing qcow2 metadata: %w", w.err)
	}
	if err := l.writeData(ctx, w, disk, size, alloc); err != nil {
		return fmt.Errorf("writing qcow2 data clusters: %w", err)
	}
	return nil
}

// bitmap has one bit per guest cluster: set when it holds data.
type bitmap []uint64

func (b bitmap) set(i int64)      { b[i/64] |= 1 << (i % 64) }
func (b bitmap) has(i int64) bool { return b[i/64]&(1<<(i%64)) != 0 }

// count returns the number of set bits in [from, to).
func (b bitmap) count(from, to int64) int64 {
	var n int64
	for i := from; i < to; {
		if i%64 == 0 && to-i >= 64 {
			n += int64(bits.OnesCount64(b[i/64]))
			i += 64
			continue
		}
		if b.has(i) {
			n++
		}
		i++
	}
	return n
}

// scan finds the clusters holding data. Segments of the disk are scanned
// on all cores: reading from the page cache and comparing with zeros is
// CPU work.
func scan(ctx context.Context, disk io.ReaderAt, size int64) (bitmap, error) {
	const segment = 256 // clusters: 16 MiB, a multiple of maxRun
	clusters := (size + clusterSize - 1) / clusterSize
	alloc := make(bitmap, (clusters+63)/64)
	bufs := sync.Pool{New: func() any { b := make([]byte, maxRun*clusterSize); return &b }}
	next := int64(0)
	return alloc, ordered.Run(ctx, runtime.GOMAXPROCS(0), 2*runtime.GOMAXPROCS(0),
		func() (int64, bool, error) {
			first := next
			next += segment
			return first, first < clusters, nil
		},
		func(first int64) ([]int64, error) {
			// Read 1 MiB at a time, then look at its clusters.
			const per = maxRun
			r := format.NewBlockReader(disk, size, per*clusterSize)
			r.Limit(first/per, (first+segment)/per)
			buf := bufs.Get().(*[]byte)
			defer bufs.Put(buf)
			var found []int64
			for {
				i, ok, err := r.Next(*buf)
				if err != nil || !ok {
					return found, err
				}
				for k := range int64(per) {
					if !format.IsZero((*buf)[k*clusterSize : (k+1)*clusterSize]) {
						found = append(found, i*per+k)
					}
				}
			}
		},
		func(found []int64) error {
			for _, i := range found {
				alloc.set(i)
			}
			return nil
		})
}

// layout is where everything goes in the image, in clusters.
type layout struct {
	size       int64
	clusters   int64 // guest clusters
	l1Entries  int64
	l1Off      int64 // host cluster of the L1 table
	l1Clusters int64
	rtOff      int64 // refcount table
	rtClusters int64
	rbOff      int64 // refcount blocks
	rbClusters int64
	l2Off      int64 // first L2 table; one per L1 entry that maps data
	l2Tables   int64
	dataOff    int64 // first data cluster
	data       int64 // data clusters
	total      int64 // host clusters in the file
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func plan(size int64, alloc bitmap) layout {
	l := layout{size: size, clusters: ceilDiv(size, clusterSize)}
	l.l1Entries = ceilDiv(l.clusters, l2Entries)
	l.l1Clusters = ceilDiv(l.l1Entries*8, clusterSize)
	for e := range l.l1Entries {
		if alloc.count(e*l2Entries, min((e+1)*l2Entries, l.clusters)) > 0 {
			l.l2Tables++
		}
	}
	l.data = alloc.count(0, l.clusters)
	fixed := 1 + l.l1Clusters + l.l2Tables + l.data
	// The refcount structures count themselves: iterate to a fixed point.
	for {
		total := fixed + l.rtClusters + l.rbClusters
		rb := ceilDiv(total, refsPerBlock)
		rt := ceilDiv(rb*8, clusterSize)
		if rb == l.rbClusters && rt == l.rtClusters {
			break
		}
		l.rbClusters, l.rtClusters = rb, rt
	}
	l.l1Off = 1
	l.rtOff = l.l1Off + l.l1Clusters
	l.rbOff = l.rtOff + l.rtClusters
	l.l2Off = l.rbOff + l.rbClusters
	l.dataOff = l.l2Off + l.l2Tables
	l.total = l.dataOff + l.data
	return l
}

func (l layout) header() []byte {
	h := make([]byte, clusterSize)
	be := binary.BigEndian
	copy(h, "QFI\xfb")
	be.PutUint32(h[4:], 3) // version
	// 8: backing file offset, 16: backing file size: none
	be.PutUint32(h[20:], clusterBits)
	be.PutUint64(h[24:], uint64(l.size))
	// 32: crypt method: none
	be.PutUint32(h[36:], uint32(l.l1Entries))
	be.PutUint64(h[40:], uint64(l.l1Off*clusterSize))
	be.PutUint64(h[48:], uint64(l.rtOff*clusterSize))
	be.PutUint32(h[56:], uint32(l.rtClusters))
	// 60: snapshots: none; 72..95: incompatible, compatible, autoclear features: none
	be.PutUint32(h[96:], 4) // refcount order: 16-bit refcounts
	be.PutUint32(h[100:], headerLength)
	// 104: header extension "end" (type 0, length 0), already zero.
	return h
}

// writeMetadata writes every cluster before the data: header, L1, refcount
// table and blocks, L2 tables.
func (l layout) writeMetadata(w *writer, alloc bitmap) {
	w.write(l.header())

	be := binary.BigEndian
	buf := make([]byte, clusterSize)
	// L1: entry e points at the e-th allocated L2 table.
	l1 := make([]byte, l.l1Clusters*clusterSize)
	next := l.l2Off
	for e := range l.l1Entries {
		if alloc.count(e*l2Entries, min((e+1)*l2Entries, l.clusters)) > 0 {
			be.PutUint64(l1[e*8:], uint64(next*clusterSize)|oflagCopied)
			next++
		}
	}
	w.write(l1)

	// Refcount table: entry i points at refcount block i.
	for c := range l.rtClusters {
		clear(buf)
		for k := range int64(clusterSize / 8) {
			i := c*clusterSize/8 + k
			if i >= l.rbClusters {
				break
			}
			be.PutUint64(buf[k*8:], uint64((l.rbOff+i)*clusterSize))
		}
		w.write(buf)
	}
	// Refcount blocks: every host cluster of the file is used once.
	for b := range l.rbClusters {
		clear(buf)
		for k := range int64(refsPerBlock) {
			if b*refsPerBlock+k >= l.total {
				break
			}
			be.PutUint16(buf[k*2:], 1)
		}
		w.write(buf)
	}
	// L2 tables: data clusters are stored in guest order.
	host := l.dataOff
	for e := range l.l1Entries {
		first, end := e*l2Entries, min((e+1)*l2Entries, l.clusters)
		if alloc.count(first, end) == 0 {
			continue
		}
		clear(buf)
		for c := first; c < end; c++ {
			if alloc.has(c) {
				be.PutUint64(buf[(c-first)*8:], uint64(host*clusterSize)|oflagCopied)
				host++
			}
		}
		w.write(buf)
	}
}

// writeData copies the allocated clusters in guest order, reading runs of
// adjacent clusters in one call. Reading runs on its own goroutine, so the
// disk is read while the previous run is written.
func (l layout) writeData(ctx context.Context, w *writer, disk io.ReaderAt, size int64, alloc bitmap) error {
	pool := sync.Pool{New: func() any { b := make([]byte, maxRun*clusterSize); return &b }}
	c := int64(0)
	return ordered.Run(ctx, 1, 4,
		func() (*[]byte, bool, error) {
			for c < l.clusters && !alloc.has(c) {
				c++
			}
			if c >= l.clusters {
				return nil, false, nil
			}
			n := int64(1)
			for n < maxRun && c+n < l.clusters && alloc.has(c+n) {
				n++
			}
			buf := pool.Get().(*[]byte)
			*buf = (*buf)[:n*clusterSize]
			err := format.ReadBlock(disk, size, c*clusterSize, *buf)
			c += n
			return buf, true, err
		},
		func(b *[]byte) (*[]byte, error) { return b, nil },
		func(b *[]byte) error {
			w.write(*b)
			pool.Put(b)
			return w.err
		})
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
