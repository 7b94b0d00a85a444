package vmdk

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/kiln-build/kiln/builder/format"
)

// Encoded is a streamOptimized VMDK kiln has already written, as a value
// the next encoders read: the OVA packs it and the GCE archive reuses its
// grains, so a build compresses the disk once. R is read with ReadAt only,
// so several encoders may share one. FileName is the extent name in its
// descriptor (Encoder.FileName when it was written).
type Encoded struct {
	R        io.ReaderAt
	Size     int64
	FileName string
}

// OpenEncoded opens a VMDK file written with Encoder{FileName: fileName};
// close the returned file when done with the value.
func OpenEncoded(path, fileName string) (Encoded, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return Encoded{}, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return Encoded{}, nil, err
	}
	return Encoded{R: f, Size: st.Size(), FileName: fileName}, f, nil
}

// Reader reads the VMDK from its start; each call gets its own position.
func (e Encoded) Reader() *bufio.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(e.R, 0, e.Size), 1<<20)
}

// Renamed is an Encoder that writes From again with another extent file
// name (NAME.vmdk beside the OVA's NAME-disk1.vmdk), by CopyRenamed,
// without compressing a grain again. The disk it is given is not read:
// From is that disk already encoded.
type Renamed struct {
	From     Encoded
	FileName string
}

// Encode writes From, renamed, to dst.
func (r Renamed) Encode(ctx context.Context, dst io.Writer, _ io.ReaderAt, _ int64) error {
	if r.From.R == nil {
		return fmt.Errorf("vmdk: Renamed needs the encoded vmdk to copy")
	}
	bw := bufio.NewWriterSize(dst, 1<<20)
	if err := CopyRenamed(ctx, bw, r.From.Reader(), r.FileName); err != nil {
		return err
	}
	return bw.Flush()
}

var (
	_ format.Encoder = Encoder{}
	_ format.Encoder = Renamed{}
)
