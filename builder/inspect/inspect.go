// Package inspect reads a kiln image back: its partition table, its
// filesystems, the kernel, the packages the image's own rpmdb lists and
// the build record kiln baked in. It takes raw, qcow2, VMDK and OVA files;
// non-raw images are converted to a temporary sparse raw file with
// qemu-img, and files are read from the root filesystem with debugfs and
// the package list with rpm, so the answers come from the reference tools.
//
//	r, err := inspect.Image(ctx, "out/node.qcow2")
//	fmt.Println(r.Kernels, len(r.Packages))
package inspect

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/buildinfo"
	"github.com/kiln-build/kiln/builder/disk/ondisk"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/firstboot/imageset"
)

// Report is what Image found.
type Report struct {
	File       string      `json:"file"`
	Format     string      `json:"format"` // raw, qcow2, vmdk, ova
	DiskSize   int64       `json:"diskSize"`
	DiskGUID   string      `json:"diskGUID"`
	Partitions []Partition `json:"partitions"`
	Root       *Ext4       `json:"root,omitempty"`
	ESP        *FAT        `json:"esp,omitempty"`
	Kernels    []string    `json:"kernels"`
	Packages   []string    `json:"packages"`
	// Record is the build record the image carries, if any.
	Record json.RawMessage `json:"record,omitempty"`
	// Images are the container images preloaded under /var/lib/kiln/images, with the
	// digests the image set (/usr/lib/kiln/images.json) records for them.
	Images []imageset.Preloaded `json:"images"`
}

// Partition is one GPT entry.
type Partition struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	GUID   string `json:"guid"`
	Start  int64  `json:"start"` // bytes
	Size   int64  `json:"size"`  // bytes
}

// Ext4 describes the root filesystem.
type Ext4 struct {
	Partition int    `json:"partition"`
	UUID      string `json:"uuid"`
	Size      int64  `json:"size"`
}

// FAT describes the ESP.
type FAT struct {
	Partition int    `json:"partition"`
	VolumeID  string `json:"volumeID"`
	Label     string `json:"label"`
}

// Type GUIDs kiln's disks use.
const (
	typeESP   = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	typeRoot  = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
	typeLinux = "0fc63daf-8483-4772-8e79-3d69d8477de4"
)

// Image inspects the image file at path.
func Image(ctx context.Context, path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	format, err := detect(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rep := &Report{File: path, Format: format}
	raw := path
	if format != "raw" {
		tmp, err := os.MkdirTemp("", "kiln-inspect-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		src, srcFmt := path, format
		if format == "ova" {
			if src, err = extractVMDK(f, tmp); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			srcFmt = "vmdk"
		}
		raw = filepath.Join(tmp, "disk.raw")
		if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-f", srcFmt, "-O", "raw", src, raw).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("converting %s to raw with qemu-img: %w: %s", path, err, strings.TrimSpace(string(out)))
		}
	}
	d, err := os.Open(raw)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	st, err := d.Stat()
	if err != nil {
		return nil, err
	}
	rep.DiskSize = st.Size()
	if rep.DiskGUID, rep.Partitions, err = readGPT(d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, p := range rep.Partitions {
		sec := io.NewSectionReader(d, p.Start, p.Size)
		switch p.Type {
		case typeRoot, typeLinux:
			if info, err := ondisk.ReadExt4(sec); err == nil && rep.Root == nil {
				rep.Root = &Ext4{Partition: p.Number, UUID: info.UUID, Size: int64(info.Blocks) * info.BlockSize}
			}
		case typeESP:
			rep.ESP = readFAT(sec, p.Number)
		}
	}
	if rep.Root == nil {
		return rep, nil
	}
	fs := debugfsTarget{image: raw, offset: rep.partition(rep.Root.Partition).Start}
	if rec, err := fs.cat(ctx, buildinfo.RecordPath); err == nil && json.Valid(rec) {
		rep.Record = json.RawMessage(bytes.TrimSpace(rec))
	}
	set, _ := fs.cat(ctx, imageset.Path)
	files, _ := fs.lsFiles(ctx, imagesDir)
	rep.Images = preloaded(set, files)
	rep.Kernels, _ = fs.ls(ctx, "/lib/modules")
	if len(rep.Kernels) == 0 {
		rep.Kernels, _ = fs.ls(ctx, "/usr/lib/modules")
	}
	rep.Packages, err = packages(ctx, fs)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// imagesDir is where kiln build stages the preloaded images (builder/containerimages.Dir).
const imagesDir = "/var/lib/kiln/images"

// preloaded lists the archives under imagesDir, named as the image set records them
// (reference and digest); an archive the set does not know (or an image without a set)
// is listed by file name alone.
func preloaded(setJSON []byte, files []string) []imageset.Preloaded {
	byFile := map[string]imageset.Preloaded{}
	if set, err := imageset.Parse(setJSON); err == nil {
		for _, p := range set.Preloaded {
			byFile[p.File] = p
		}
	}
	out := []imageset.Preloaded{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".tar") {
			continue
		}
		p, ok := byFile[f]
		if !ok {
			p = imageset.Preloaded{File: f}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

func (r *Report) partition(n int) Partition {
	for _, p := range r.Partitions {
		if p.Number == n {
			return p
		}
	}
	return Partition{}
}

func detect(f *os.File) (string, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("reading: %w", err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return "qcow2", nil
	case bytes.HasPrefix(head, []byte("KDMV")):
		return "vmdk", nil
	case len(head) >= 263 && string(head[257:262]) == "ustar":
		return "ova", nil
	case n == 512 && head[510] == 0x55 && head[511] == 0xAA:
		return "raw", nil
	}
	return "", errors.New("not a raw disk, qcow2, vmdk or ova")
}

// extractVMDK copies the OVA's first .vmdk out to dir.
func extractVMDK(f *os.File, dir string) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", errors.New("the OVA has no .vmdk")
		}
		if err != nil {
			return "", fmt.Errorf("reading the OVA: %w", err)
		}
		if strings.HasSuffix(h.Name, ".vmdk") {
			p := filepath.Join(dir, "disk.vmdk")
			out, err := os.Create(p)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			return p, err
		}
	}
}

// readGPT reads the primary GPT, checking its checksums.
func readGPT(r io.ReaderAt) (string, []Partition, error) {
	h, err := ondisk.ReadGPT(r)
	if err != nil {
		return "", nil, err
	}
	entries, err := h.ReadEntries(r)
	if err != nil {
		return "", nil, err
	}
	var parts []Partition
	for _, p := range h.Partitions(entries) {
		parts = append(parts, Partition{Number: p.Number, Name: p.Name, Type: p.Type, GUID: p.GUID,
			Start: p.Start(h.SectorSize), Size: p.Size(h.SectorSize)})
	}
	return h.DiskGUID, parts, nil
}

// readFAT reads a FAT32 boot sector's volume id and label.
func readFAT(r io.ReaderAt, part int) *FAT {
	bs := make([]byte, 512)
	if _, err := r.ReadAt(bs, 0); err != nil || bs[510] != 0x55 || bs[511] != 0xAA || string(bs[82:87]) != "FAT32" {
		return nil
	}
	id := binary.LittleEndian.Uint32(bs[67:])
	return &FAT{Partition: part, VolumeID: fmt.Sprintf("%04X-%04X", id>>16, id&0xFFFF), Label: strings.TrimSpace(string(bs[71:82]))}
}

// debugfsTarget reads files from an ext4 filesystem inside a disk image
// with e2fsprogs' debugfs, which needs no mount and no root.
type debugfsTarget struct {
	image  string
	offset int64
}

func (d debugfsTarget) dev() string { return d.image + "?offset=" + strconv.FormatInt(d.offset, 10) }

func (d debugfsTarget) run(ctx context.Context, req string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "debugfs", "-R", req, d.dev())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("debugfs %q: %w: %s", req, err, strings.TrimSpace(errb.String()))
	}
	// debugfs reports a missing file on stderr and still exits 0.
	if strings.Contains(errb.String(), "File not found") {
		return nil, os.ErrNotExist
	}
	return out.Bytes(), nil
}

func (d debugfsTarget) cat(ctx context.Context, p string) ([]byte, error) {
	return d.run(ctx, "cat "+p)
}

func (d debugfsTarget) ls(ctx context.Context, dir string) ([]string, error) {
	return d.list(ctx, dir, "04") // directories
}

// lsFiles lists the regular files of dir.
func (d debugfsTarget) lsFiles(ctx context.Context, dir string) ([]string, error) {
	return d.list(ctx, dir, "10")
}

// list returns the names in dir whose octal mode starts with kind, sorted.
func (d debugfsTarget) list(ctx context.Context, dir, kind string) ([]string, error) {
	out, err := d.run(ctx, "ls -p "+dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		// ls -p prints /inode/mode/uid/gid/name/size/
		f := strings.Split(l, "/")
		if len(f) >= 6 && f[5] != "." && f[5] != ".." && strings.HasPrefix(f[2], kind) {
			names = append(names, f[5])
		}
	}
	sort.Strings(names)
	return names, nil
}

// packages lists the image's rpmdb with the host's rpm, reading a copy of
// the database dumped out of the image.
func packages(ctx context.Context, fs debugfsTarget) ([]string, error) {
	tmp, err := os.MkdirTemp("", "kiln-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, dbpath := range []string{"/var/lib/rpm", "/usr/lib/sysimage/rpm"} {
		names, err := fs.ls(ctx, dbpath)
		if err != nil || len(names) == 0 {
			entries, _ := fs.run(ctx, "ls "+dbpath)
			if !bytes.Contains(entries, []byte("rpmdb.sqlite")) && !bytes.Contains(entries, []byte("Packages")) {
				continue
			}
		}
		dst := filepath.Join(tmp, dbpath)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if _, err := fs.run(ctx, "rdump "+dbpath+" "+filepath.Dir(dst)); err != nil {
			return nil, err
		}
		if _, err := exec.LookPath("rpm"); err != nil {
			return nil, errors.New("listing the image's packages needs rpm on this machine (apt-get install rpm)")
		}
		return queryPackages(ctx, tmp, dbpath)
	}
	return nil, nil
}

// pkgMarker starts every line queryPackages asks rpm to print, so that
// nothing else rpm may write (a Berkeley DB rpmdb read by a newer rpm
// brings warnings) can pass for a package.
const pkgMarker = "kiln-package "

// queryPackages lists the packages of the rpmdb at dbpath under root, with
// the host's rpm, gpg-pubkey entries left out, sorted. rpm's stderr is
// kept only to explain a failure.
func queryPackages(ctx context.Context, root, dbpath string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "rpm", "--root", root, "--dbpath", dbpath, "-qa", "--qf",
		pkgMarker+`%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("reading the image's rpmdb (%s) with rpm: %w: %s", dbpath, err, firstError(stderr.String()))
	}
	return parsePackages(stdout.Bytes()), nil
}

// parsePackages reads queryPackages' lines.
func parsePackages(out []byte) []string {
	var pkgs []string
	for _, l := range strings.Split(string(out), "\n") {
		p, ok := strings.CutPrefix(l, pkgMarker)
		if ok && p != "" && !strings.HasPrefix(p, "gpg-pubkey-") {
			pkgs = append(pkgs, p)
		}
	}
	sort.Strings(pkgs)
	return pkgs
}

// firstError is rpm's first "error:" line, else its last line: one line
// for a one-line error.
func firstError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "error:") {
			return l
		}
	}
	return lines[len(lines)-1]
}
