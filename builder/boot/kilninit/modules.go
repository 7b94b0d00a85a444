package kilninit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ModulesList is where the initramfs builder writes the modules to load, in
// dependency order, one path (relative to the initramfs root) a line.
const ModulesList = "etc/kiln-init/modules"

// maxModuleSize bounds a decompressed module; the largest in-tree modules
// are a few MiB.
const maxModuleSize = 64 << 20

// ReadModuleList reads the ordered module list under root.
func ReadModuleList(root string) ([]string, error) {
	f, err := os.Open(filepath.Join(root, ModulesList))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			mods = append(mods, l)
		}
	}
	return mods, sc.Err()
}

// ModuleImage returns a module file's ELF bytes, decompressing .ko.xz,
// .ko.zst and .ko.gz as the kernel's own loader would.
func ModuleImage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = xr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gr
	}
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(r, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n > maxModuleSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxModuleSize)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("\x7fELF")) {
		return nil, fmt.Errorf("%s: not an ELF module", path)
	}
	return b.Bytes(), nil
}
