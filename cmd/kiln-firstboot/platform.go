package main

import (
	"context"

	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/firstboot/agent"
)

// defaultMetadataFile is the file platform's document on the node.
const defaultMetadataFile = "/etc/kiln/metadata.yaml"

// maxMetadata bounds what is read from a file; the config package refuses
// anything over its own, smaller limit.
const maxMetadata = 8 << 20

// filePlatform reads the metadata from one file.
type filePlatform struct{ path string }

func (f filePlatform) Name() string { return "file" }

func (f filePlatform) Metadata(context.Context) ([]byte, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("opening metadata: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxMetadata))
	if err != nil {
		return nil, fmt.Errorf("reading metadata %s: %w", f.path, err)
	}
	return data, nil
}

// choosePlatform picks where the metadata comes from. --metadata-file is
// a path as the caller sees it; --platform file reads
// /etc/kiln/metadata.yaml under the root.
//
// The other platforms (vmware, gce, nocloud, qemu) and detection come from
// firstboot/platform, which this build does not include yet: without
// flags, the agent reads the metadata file when the image or its
// provisioning put one there.
func choosePlatform(_ context.Context, root, name, file string) (agent.Platform, error) {
	switch {
	case file != "":
		return filePlatform{path: file}, nil
	case name == "file":
		return filePlatform{path: filepath.Join(root, defaultMetadataFile)}, nil
	case name != "":
		return nil, fmt.Errorf("platform %q is not built into this kiln-firstboot (it knows file; use --metadata-file)", name)
	}
	p := filepath.Join(root, defaultMetadataFile)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("detecting the platform: %w: no %s (this build reads only the file platform)", errNoPlatform, p)
	}
	return filePlatform{path: p}, nil
}
