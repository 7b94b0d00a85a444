package nocloud

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// ErrUnknownFilesystem is a volume that is neither ISO 9660 nor FAT.
var ErrUnknownFilesystem = errors.New("not an ISO 9660 or FAT filesystem")

// VolumeLabel returns the label of an ISO 9660 (volume identifier) or FAT
// (volume label) filesystem of the given size.
func VolumeLabel(r io.ReaderAt, size int64) (string, error) {
	if isISO9660(r) {
		v, err := openISO9660(r, size)
		if err != nil {
			return "", fmt.Errorf("reading ISO 9660: %w", err)
		}
		return v.label, nil
	}
	v, err := openFAT(r, size)
	if err != nil {
		return "", ErrUnknownFilesystem
	}
	l, err := v.label()
	if err != nil {
		return "", fmt.Errorf("reading FAT%d: %w", v.bits, err)
	}
	return l, nil
}

// ReadFile reads name from the root directory of an ISO 9660 or FAT
// filesystem without mounting it. Names are matched as a mounted Linux
// system would show them: Rock Ridge or Joliet names, then the plain ISO
// 9660 name (KILN.YAM;1 for kiln.yaml at level 1); VFAT long names, then
// 8.3 names, case-insensitively. A missing file is an error wrapping
// fs.ErrNotExist; a file over platform.MaxMetadataSize a
// *platform.BadMetadataError. Hostile images yield errors, never panics or
// unbounded allocations.
func ReadFile(r io.ReaderAt, size int64, name string) ([]byte, error) {
	var (
		b    []byte
		err  error
		kind string
	)
	if isISO9660(r) {
		kind = "ISO 9660"
		var v *isoVolume
		if v, err = openISO9660(r, size); err == nil {
			b, err = v.readFile(name, platform.MaxMetadataSize)
		}
	} else {
		v, ferr := openFAT(r, size)
		if ferr != nil {
			return nil, ErrUnknownFilesystem
		}
		kind = fmt.Sprintf("FAT%d", v.bits)
		b, err = v.readFile(name, platform.MaxMetadataSize)
	}
	var big *tooBigError
	switch {
	case errors.As(err, &big):
		return nil, &platform.BadMetadataError{Where: "cidata " + name, Err: err}
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", kind, err)
	}
	return b, nil
}
