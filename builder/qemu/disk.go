package qemu

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// Format is a disk image format, as qemu-img names it, or "ova".
type Format string

// Image formats kiln run boots.
const (
	Raw   Format = "raw"
	QCOW2 Format = "qcow2"
	VMDK  Format = "vmdk"
	OVA   Format = "ova"
)

// Sniff names the format of the image at p from its first bytes. Anything
// unrecognized is raw, as qemu-img would take it.
func Sniff(p string) (Format, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	return sniffBytes(head[:n]), nil
}

func sniffBytes(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return QCOW2
	case bytes.HasPrefix(head, []byte("KDMV")), bytes.HasPrefix(head, []byte("# Disk DescriptorFile")):
		return VMDK
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return OVA
	}
	return Raw
}

// prepareDisk returns a qcow2 overlay in work backed by the image (or by
// the disk taken out of an OVA), grown to o.DiskSize when set.
func prepareDisk(ctx context.Context, o Options, work string) (string, error) {
	src, err := filepath.Abs(o.Image)
	if err != nil {
		return "", err
	}
	f, err := Sniff(src)
	if err != nil {
		return "", fmt.Errorf("reading the image: %w", err)
	}
	if f == OVA {
		if src, err = ExtractOVADisk(src, work); err != nil {
			return "", err
		}
		if f, err = Sniff(src); err != nil {
			return "", err
		}
	}
	size, err := virtualSize(ctx, o.QEMUImg, src, f)
	if err != nil {
		return "", err
	}
	if o.DiskSize != 0 && o.DiskSize < size {
		return "", fmt.Errorf("disk size %d is smaller than the image's %d bytes", o.DiskSize, size)
	}
	overlay := filepath.Join(work, "disk.qcow2")
	args := []string{"create", "-q", "-f", "qcow2", "-b", src, "-F", string(f), overlay}
	if o.DiskSize != 0 {
		args = append(args, strconv.FormatInt(o.DiskSize, 10))
	}
	if out, err := exec.CommandContext(ctx, o.QEMUImg, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("creating the overlay disk: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return overlay, nil
}

func virtualSize(ctx context.Context, qemuImg, p string, f Format) (int64, error) {
	out, err := exec.CommandContext(ctx, qemuImg, "info", "--output=json", "-f", string(f), p).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, fmt.Errorf("qemu-img info %s: %w: %s", p, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, fmt.Errorf("qemu-img info %s: %w", p, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("qemu-img info %s: %w", p, err)
	}
	return info.VirtualSize, nil
}

// ExtractOVADisk copies the first .vmdk member of the OVA (a tar) into dir
// and returns its path.
func ExtractOVADisk(ova, dir string) (string, error) {
	f, err := os.Open(ova)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%s: no .vmdk disk in the OVA", ova)
		}
		if err != nil {
			return "", fmt.Errorf("reading the OVA %s: %w", ova, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(strings.ToLower(h.Name), ".vmdk") {
			continue
		}
		dst := filepath.Join(dir, "ova-"+path.Base(h.Name))
		out, err := os.Create(dst)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
			return "", fmt.Errorf("extracting %s from the OVA: %w", h.Name, err)
		}
		return dst, nil
	}
}

// WriteNoCloudISO writes an ISO 9660 volume labelled "cidata" (Rock Ridge
// names, so kiln.yaml keeps its name) holding files, as cloud-init's
// NoCloud source and kiln-firstboot read it. work is scratch space.
func WriteNoCloudISO(dst, work string, files map[string][]byte) error {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	size := int64(1 << 20)
	for _, b := range files {
		size += int64(len(b)) + 4096
	}
	os.Remove(dst)
	b, err := file.CreateFromPath(dst, size)
	if err != nil {
		return err
	}
	defer b.Close()
	iso, err := iso9660.Create(b, size, 0, 2048, work)
	if err != nil {
		return err
	}
	for name, b := range files {
		f, err := iso.OpenFile("/"+name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return iso.Finalize(iso9660.FinalizeOptions{RockRidge: true, VolumeIdentifier: "cidata"})
}
