// Package ovafile reads an OVA archive back and checks it before anything
// is uploaded: it indexes the tar entries, reads the OVF descriptor and the
// manifest (NAME.mf), and compares the SHA-1, SHA-256 or SHA-512 digest of
// every file against the manifest, all in one pass over the archive. It
// also hashes the whole archive, which is how kiln recognises an OVA it has
// already uploaded.
//
// vCenter checks the manifest too, but only after the bytes have crossed
// the network, and only when the client asks; checking locally first means
// a corrupt or tampered OVA is refused before a VM exists.
//
//	a, err := ovafile.Open(ctx, "out/node.ova")
//	if err != nil {
//		return err // a digest mismatch wraps ovafile.ErrDigestMismatch
//	}
//	r, size, err := a.OpenFile("node-disk1.vmdk")
package ovafile

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
)

// Limits on what an archive may hold; an OVA past them is refused rather
// than read into memory.
const (
	MaxDescriptorSize = 16 << 20
	MaxManifestSize   = 1 << 20
	MaxFiles          = 1024
)

// ErrDigestMismatch is wrapped by every error about a file whose digest is
// not the manifest's.
var ErrDigestMismatch = errors.New("digest does not match the manifest")

// File is one entry of the archive.
type File struct {
	Name   string
	Offset int64 // of its first byte in the archive
	Size   int64
}

// Archive is a checked OVA.
type Archive struct {
	// Path is the file Open read; empty after Read.
	Path string
	// SHA256 is the hex digest of the whole archive.
	SHA256 string
	// Size is the archive's length in bytes.
	Size int64
	// Descriptor is the OVF descriptor's name (the first entry) and OVF its
	// content.
	Descriptor string
	OVF        []byte
	// Manifest is the .mf entry's name.
	Manifest string
	// Files lists every entry in archive order.
	Files []File
}

// Open reads and checks the OVA at path.
func Open(ctx context.Context, path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading ova: %w", err)
	}
	defer f.Close()
	a, err := Read(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", path, err)
	}
	a.Path = path
	return a, nil
}

// OpenFile opens one entry of an archive returned by Open.
func (a *Archive) OpenFile(name string) (io.ReadCloser, int64, error) {
	for _, e := range a.Files {
		if e.Name != name {
			continue
		}
		f, err := os.Open(a.Path)
		if err != nil {
			return nil, 0, fmt.Errorf("reading ova: %w", err)
		}
		return struct {
			io.Reader
			io.Closer
		}{io.NewSectionReader(f, e.Offset, e.Size), f}, e.Size, nil
	}
	return nil, 0, fmt.Errorf("%s is not in the ova", name)
}

// counter counts what passes through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long read when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

var entryName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$`)

// Read checks an OVA read from r: the first entry is the OVF descriptor,
// exactly one manifest lists every other file (certificates aside) with
// its digest, and every digest matches.
func Read(ctx context.Context, r io.Reader) (*Archive, error) {
	whole := sha256.New()
	c := &counter{r: io.TeeReader(ctxReader{ctx, bufio.NewReaderSize(r, 256<<10)}, whole)}
	tr := tar.NewReader(c)
	a := &Archive{}
	var mf []byte
	sums := map[string]map[string]string{} // file -> algorithm -> hex digest
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading the tar archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("entry %q is not a regular file", h.Name)
		}
		name := h.Name
		if !entryName.MatchString(name) {
			return nil, fmt.Errorf("entry %q: want a plain file name (no directories)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("entry %q appears twice", name)
		}
		seen[name] = true
		if len(a.Files) == MaxFiles {
			return nil, fmt.Errorf("more than %d entries", MaxFiles)
		}
		a.Files = append(a.Files, File{Name: name, Offset: c.n, Size: h.Size})
		ext := strings.ToLower(path.Ext(name))
		switch {
		case len(a.Files) == 1:
			if ext != ".ovf" {
				return nil, fmt.Errorf("first entry %q is not the OVF descriptor (NAME.ovf)", name)
			}
			if a.OVF, err = readAll(tr, h.Size, MaxDescriptorSize, name); err != nil {
				return nil, err
			}
			a.Descriptor = name
			put(sums, name, a.OVF)
		case ext == ".ovf":
			return nil, fmt.Errorf("entry %q: a second OVF descriptor (only one virtual system per OVA)", name)
		case ext == ".mf":
			if mf != nil {
				return nil, fmt.Errorf("entry %q: a second manifest", name)
			}
			if mf, err = readAll(tr, h.Size, MaxManifestSize, name); err != nil {
				return nil, err
			}
			a.Manifest = name
		default:
			hs := map[string]hash.Hash{"SHA1": sha1.New(), "SHA256": sha256.New(), "SHA512": sha512.New()}
			w := io.MultiWriter(hs["SHA1"], hs["SHA256"], hs["SHA512"])
			if _, err := io.Copy(w, tr); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			sums[name] = map[string]string{}
			for alg, h := range hs {
				sums[name][alg] = hex.EncodeToString(h.Sum(nil))
			}
		}
	}
	// Hash the end-of-archive blocks and any padding as well.
	if _, err := io.Copy(io.Discard, c); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the tar archive: %w", err)
	}
	if a.Descriptor == "" {
		return nil, errors.New("no OVF descriptor: the archive is empty")
	}
	if mf == nil {
		return nil, errors.New("no manifest (NAME.mf): kiln checks every file's digest before an upload")
	}
	entries, err := ParseManifest(mf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Manifest, err)
	}
	listed := map[string]bool{}
	for _, e := range entries {
		got, ok := sums[e.File]
		if !ok {
			return nil, fmt.Errorf("%s lists %s, which is not in the archive", a.Manifest, e.File)
		}
		if !strings.EqualFold(got[e.Algorithm], e.Digest) {
			return nil, fmt.Errorf("%s: %s %w (archive %s, manifest %s)", e.File, e.Algorithm, ErrDigestMismatch, got[e.Algorithm], strings.ToLower(e.Digest))
		}
		listed[e.File] = true
	}
	for _, f := range a.Files {
		ext := strings.ToLower(path.Ext(f.Name))
		if f.Name != a.Manifest && ext != ".cert" && !listed[f.Name] {
			return nil, fmt.Errorf("%s is not listed in %s", f.Name, a.Manifest)
		}
	}
	a.SHA256 = hex.EncodeToString(whole.Sum(nil))
	a.Size = c.n
	return a, nil
}

func put(sums map[string]map[string]string, name string, b []byte) {
	s1, s256, s512 := sha1.Sum(b), sha256.Sum256(b), sha512.Sum512(b)
	sums[name] = map[string]string{
		"SHA1":   hex.EncodeToString(s1[:]),
		"SHA256": hex.EncodeToString(s256[:]),
		"SHA512": hex.EncodeToString(s512[:]),
	}
}

func readAll(r io.Reader, size, limit int64, name string) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", name, size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// ManifestEntry is one line of an OVF manifest: ALG(FILE)= DIGEST.
type ManifestEntry struct {
	Algorithm string // SHA1, SHA256 or SHA512
	File      string
	Digest    string // hex
}

var manifestLine = regexp.MustCompile(`^(SHA1|SHA256|SHA512)\(([^()]+)\)\s*=\s*([0-9A-Fa-f]+)$`)

// ParseManifest reads an OVF manifest. Blank lines are skipped; anything
// else that is not ALG(FILE)= DIGEST, a digest of the wrong length or a
// file listed twice is an error naming the line.
func ParseManifest(b []byte) ([]ManifestEntry, error) {
	var out []ManifestEntry
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := manifestLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not ALGORITHM(FILE)= DIGEST with SHA1, SHA256 or SHA512", i+1, truncate(line))
		}
		want := map[string]int{"SHA1": 40, "SHA256": 64, "SHA512": 128}[m[1]]
		if len(m[3]) != want {
			return nil, fmt.Errorf("line %d: a %s digest has %d hex digits, not %d", i+1, m[1], want, len(m[3]))
		}
		if seen[m[2]] {
			return nil, fmt.Errorf("line %d: %s is listed twice", i+1, m[2])
		}
		seen[m[2]] = true
		out = append(out, ManifestEntry{Algorithm: m[1], File: m[2], Digest: m[3]})
	}
	if len(out) == 0 {
		return nil, errors.New("the manifest lists no files")
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
