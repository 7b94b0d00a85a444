package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/platform/detect"
	"github.com/kiln-build/kiln/firstboot/platform/file"
)

// choosePlatform picks where the metadata comes from: --metadata-file is a
// path as the caller sees it (not under --root); --platform builds the
// named platform; otherwise the platform is detected from the machine
// under --root (DMI, fw_cfg, a cidata volume, /etc/kiln/metadata.yaml).
func choosePlatform(ctx context.Context, root, name, metadataFile string) (agent.Platform, error) {
	if metadataFile != "" {
		abs, err := filepath.Abs(metadataFile)
		if err != nil {
			return nil, fmt.Errorf("--metadata-file: %w", err)
		}
		return file.New(file.Options{Path: abs}), nil
	}
	opts := detect.Options{Root: root}
	if name != "" {
		return detect.New(name, opts)
	}
	p, err := detect.Detect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("%w (give --platform or --metadata-file)", err)
	}
	return p, nil
}
