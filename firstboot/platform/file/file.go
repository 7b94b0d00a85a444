// Package file reads a node's metadata from a file on the node's own disk:
// /etc/kiln/metadata.yaml by default. It serves images whose metadata is
// baked in or dropped in by other tooling, and tests of the agent.
//
//	p := file.New(file.Options{Root: "/", Path: "/etc/kiln/metadata.yaml"})
//	md, err := p.Metadata(ctx)
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// DefaultPath is where the file platform looks unless told otherwise.
const DefaultPath = "/etc/kiln/metadata.yaml"

// Options configure the file platform.
type Options struct {
	Root string // prefix for Path; "" = /
	Path string // absolute path inside Root; "" = DefaultPath
}

// Platform reads metadata from one file.
type Platform struct{ path string }

// New returns the file platform.
func New(opts Options) *Platform {
	p := opts.Path
	if p == "" {
		p = DefaultPath
	}
	return &Platform{path: filepath.Join(opts.Root, p)}
}

// Name returns "file".
func (p *Platform) Name() string { return "file" }

// Path is the file read, root included.
func (p *Platform) Path() string { return p.path }

// Metadata reads the file. A missing or blank file is platform.ErrNoMetadata.
func (p *Platform) Metadata(_ context.Context) ([]byte, error) {
	f, err := os.Open(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: %w", p.path, platform.ErrNoMetadata)
	}
	if err != nil {
		return nil, fmt.Errorf("opening metadata file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, platform.MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading metadata file %s: %w", p.path, err)
	}
	if len(b) > platform.MaxMetadataSize {
		return nil, &platform.BadMetadataError{Where: p.path, Err: fmt.Errorf("over the %d byte limit", platform.MaxMetadataSize)}
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("%s is empty: %w", p.path, platform.ErrNoMetadata)
	}
	return b, nil
}
