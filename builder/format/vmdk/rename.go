package vmdk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"regexp"
)

var extentLine = regexp.MustCompile(`(?m)^(RW \d+ SPARSE )"[^"\n]*"$`)

// CopyRenamed copies a streamOptimized VMDK kiln wrote from src to dst,
// changing only the extent file name in its embedded descriptor. The
// build writes the disk once, for the OVA (as NAME-disk1.vmdk), and copies
// it as NAME.vmdk this way instead of compressing every grain again.
func CopyRenamed(ctx context.Context, dst io.Writer, src io.Reader, fileName string) error {
	head := make([]byte, sector)
	if _, err := io.ReadFull(src, head); err != nil {
		return fmt.Errorf("reading vmdk header: %w", err)
	}
	le := binary.LittleEndian
	if string(head[:4]) != "KDMV" || le.Uint64(head[28:]) != 1 {
		return fmt.Errorf("not a streamOptimized vmdk with an embedded descriptor")
	}
	n := le.Uint64(head[36:])
	if n == 0 || n > 1<<10 {
		return fmt.Errorf("vmdk descriptor of %d sectors", n)
	}
	desc := make([]byte, n*sector)
	if _, err := io.ReadFull(src, desc); err != nil {
		return fmt.Errorf("reading vmdk descriptor: %w", err)
	}
	text := desc[:bytes.IndexByte(append(desc, 0), 0)]
	if !extentLine.Match(text) {
		return fmt.Errorf("vmdk descriptor has no SPARSE extent line")
	}
	renamed := extentLine.ReplaceAll(text, []byte(`${1}"`+fileName+`"`))
	if len(renamed) > len(desc) {
		return fmt.Errorf("vmdk descriptor does not fit %d bytes with extent name %q", len(desc), fileName)
	}
	out := make([]byte, len(desc))
	copy(out, renamed)
	if _, err := dst.Write(head); err != nil {
		return err
	}
	if _, err := dst.Write(out); err != nil {
		return err
	}
	_, err := io.Copy(dst, &ctxReader{ctx, src})
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
