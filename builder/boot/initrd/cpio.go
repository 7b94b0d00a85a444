package initrd

import (
	"fmt"
	"io"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks into its
// initramfs. Writes are sequential; the first error sticks.
type cpioWriter struct {
	w     io.Writer
	off   int64
	inode uint32
	err   error
}

type cpioEntry struct {
	name      string
	mode      uint32 // type bits included
	uid, gid  uint32
	mtime     int64
	rdevMajor uint32
	rdevMinor uint32
	size      int64
	nlink     uint32
}

// Mode type bits as cpio records them.
const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChar = 0o020000
)

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.off += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// header writes an entry's header and name; the caller then writes
// exactly e.size bytes of data with body.
func (c *cpioWriter) header(e cpioEntry) {
	c.inode++
	nlink := e.nlink
	if nlink == 0 {
		nlink = 1
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.inode, e.mode, e.uid, e.gid, nlink, uint32(e.mtime), uint32(e.size),
		0, 0, e.rdevMajor, e.rdevMinor, len(e.name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(e.name))
	c.write([]byte{0})
	c.pad()
}

func (c *cpioWriter) body(r io.Reader, size int64) {
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, io.LimitReader(r, size))
	c.off += n
	if err == nil && n != size {
		err = fmt.Errorf("short read: %d of %d bytes", n, size)
	}
	c.err = err
	c.pad()
}

func (c *cpioWriter) close() error {
	c.header(cpioEntry{name: "TRAILER!!!"})
	return c.err
}
