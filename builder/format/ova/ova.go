// Package ova packs a raw disk into an OVA that vSphere imports: a ustar
// archive holding, in this order, the OVF 1.0 descriptor (NAME.ovf), the
// manifest with SHA256 digests of both other files (NAME.mf) and the disk
// as a streamOptimized VMDK (NAME-disk1.vmdk).
//
// The manifest needs the VMDK's digest and the OVF its size, both before
// the VMDK is in the archive, so the VMDK is first written to a temp file
// (hashed on the way) and then copied in: memory stays bounded whatever the
// disk size. Tar headers are deterministic (mode 0644, uid/gid 0, no user
// names, the given modification time).
//
//	enc := ova.Encoder{VM: ova.VM{Name: "node", CPUs: 2, MemoryMiB: 4096,
//		HardwareVersion: 19, GuestOS: "centos9_64Guest", Firmware: "efi",
//		ExtraConfig: map[string]string{"guestinfo.kiln.role": "worker"}}}
//	err := format.WriteFile(ctx, "out/node.ova", enc, raw, size)
package ova

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/vmdk"
)

// Encoder writes OVA archives.
type Encoder struct {
	VM VM
	// Disk tunes the VMDK (adapter type, compression level, workers); its
	// FileName is set from the VM name.
	Disk vmdk.Encoder
	// ModTime is the tar entries' modification time; zero means the Unix
	// epoch.
	ModTime time.Time
	// TempDir holds the VMDK while the archive is assembled; "" means the
	// system default. It needs room for the compressed disk.
	TempDir string
	// VMDK, when set, is a streamOptimized VMDK of the same disk already
	// written with FileName VM.DiskFileName(); Encode packs it instead of
	// encoding the disk again.
	VMDK *vmdk.Encoded
}

// Encode writes the OVA of disk to dst.
func (e Encoder) Encode(ctx context.Context, dst io.Writer, disk io.ReaderAt, size int64) error {
	if err := format.CheckSize(size); err != nil {
		return err
	}
	vm, err := e.VM.withDefaults()
	if err != nil {
		return err
	}
	mtime := e.ModTime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	diskName := vm.DiskFileName()

	vmdkSum := sha256.New()
	var packed io.ReadSeeker
	if e.VMDK != nil {
		if e.VMDK.FileName != diskName {
			return fmt.Errorf("the vmdk to pack names its extent %q, the OVF %q", e.VMDK.FileName, diskName)
		}
		if _, err := io.Copy(vmdkSum, &ctxReader{ctx, io.NewSectionReader(e.VMDK.R, 0, e.VMDK.Size)}); err != nil {
			return fmt.Errorf("hashing the vmdk: %w", err)
		}
		packed = io.NewSectionReader(e.VMDK.R, 0, e.VMDK.Size)
	} else {
		f, err := os.CreateTemp(e.TempDir, "kiln-ova-*.vmdk")
		if err != nil {
			return fmt.Errorf("creating temp file for the vmdk: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		bw := bufio.NewWriterSize(io.MultiWriter(f, vmdkSum), 1<<20)
		enc := e.Disk
		enc.FileName = diskName
		if err := enc.Encode(ctx, bw, disk, size); err != nil {
			return fmt.Errorf("writing vmdk: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing vmdk: %w", err)
		}
		packed = f
	}
	vmdkSize, err := packed.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("writing vmdk: %w", err)
	}
	if _, err := packed.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding vmdk: %w", err)
	}

	ovf := vm.descriptor(vmdkSize, size)
	mf := fmt.Sprintf("SHA256(%s.ovf)= %x\nSHA256(%s)= %x\n", vm.Name, sha256.Sum256(ovf), diskName, vmdkSum.Sum(nil))

	tw := tar.NewWriter(dst)
	put := func(name string, n int64, body io.Reader) error {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Mode:     0o644,
			Size:     n,
			ModTime:  mtime.Truncate(time.Second),
			Format:   tar.FormatUSTAR,
		}
		if n >= 1<<33 { // ustar sizes stop at 8 GiB; PAX records carry larger ones
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing tar header of %s: %w", name, err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			return fmt.Errorf("writing %s into the ova: %w", name, err)
		}
		return nil
	}
	if err := put(vm.Name+".ovf", int64(len(ovf)), bytes.NewReader(ovf)); err != nil {
		return err
	}
	if err := put(vm.Name+".mf", int64(len(mf)), strings.NewReader(mf)); err != nil {
		return err
	}
	if err := put(diskName, vmdkSize, &ctxReader{ctx, packed}); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing ova: %w", err)
	}
	return nil
}

// ctxReader stops a long copy when the context ends.
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
