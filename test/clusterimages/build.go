package clusterimages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/builder/containerimages"
)

// Inputs are what the images are made of.
type Inputs struct {
	// Kube is the multi-call binary that acts as kube-apiserver, etcd...
	// by the name it is called as.
	Kube string
	// Addons is a directory of static binaries: coredns, pause, flanneld,
	// install-conf, flannel.
	Addons string
	// DebianRoot is an installed Debian 12 tree with its dpkg database,
	// holding at least iptables, conntrack, busybox, haproxy, keepalived,
	// curl and iproute2.
	DebianRoot string
	// KubeadmImages are the references `kubeadm config images list` prints.
	KubeadmImages []string
	// Platform of the binaries and the Debian tree; the zero value means
	// linux/amd64.
	Platform v1.Platform
	// Created is every timestamp in the images (configs, history, tar
	// entries): SOURCE_DATE_EPOCH, or the zero Unix time.
	Created time.Time
}

// Result describes one image written.
type Result struct {
	Ref    string
	File   string  // archive name in the output directory
	Digest v1.Hash // of the image manifest
	Size   int64   // compressed layers and config, as a registry would store them
}

// IndexFile lists the images Build wrote: "REF FILE DIGEST" a line.
const IndexFile = "index.txt"

// Build writes one docker-archive per image into outDir (each through a
// temporary file renamed into place) and outDir/index.txt, and returns
// what it wrote in the order written. Same inputs give the same bytes.
func Build(ctx context.Context, in Inputs, outDir string) ([]Result, error) {
	if in.Platform.OS == "" {
		in.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	if err := in.checkBinaries(); err != nil {
		return nil, err
	}
	deb, err := OpenDebian(in.DebianRoot)
	if err != nil {
		return nil, fmt.Errorf("reading the Debian tree: %w", err)
	}
	if libc := deb.Status.Package("libc6"); libc != nil && libc.Architecture != in.Platform.Architecture {
		return nil, fmt.Errorf("the Debian tree %s is %s, not %s", in.DebianRoot, libc.Architecture, in.Platform.Architecture)
	}
	specs, err := plan(in.KubeadmImages, deb)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(outDir, ".layers-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	built := map[string]v1.Layer{}
	layer := func(n string) (v1.Layer, error) {
		if l, ok := built[n]; ok {
			return l, nil
		}
		t := NewTree()
		if err := fillLayer(t, n, in, deb); err != nil {
			return nil, fmt.Errorf("layer %s: %w", n, err)
		}
		l, err := t.Layer(work, in.Created)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", n, err)
		}
		built[n] = l
		return l, nil
	}

	var results []Result
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := writeImage(s, in, outDir, layer)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", s.ref, err)
		}
		results = append(results, r)
	}
	var index strings.Builder
	for _, r := range results {
		fmt.Fprintf(&index, "%s %s %s\n", r.Ref, r.File, r.Digest)
	}
	indexPath := filepath.Join(outDir, IndexFile)
	err = os.WriteFile(indexPath+".tmp", []byte(index.String()), 0o644)
	if err == nil {
		err = os.Rename(indexPath+".tmp", indexPath)
	}
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", IndexFile, err)
	}
	return results, nil
}

// Addons are the binaries Inputs.Addons must hold.
var Addons = []string{"coredns", "pause", "flanneld", "install-conf", "flannel"}

// checkBinaries says, before any work, which binaries are missing.
func (in Inputs) checkBinaries() error {
	var errs []error
	bins := []string{in.Kube}
	for _, a := range Addons {
		bins = append(bins, filepath.Join(in.Addons, a))
	}
	for _, b := range bins {
		if fi, err := os.Stat(b); err != nil {
			errs = append(errs, err)
		} else if !fi.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("%s is not a file", b))
		}
	}
	return errors.Join(errs...)
}

func writeImage(s spec, in Inputs, outDir string, layer func(string) (v1.Layer, error)) (Result, error) {
	tag, err := name.NewTag(s.ref, name.StrictValidation)
	if err != nil {
		return Result{}, err
	}
	created := v1.Time{Time: in.Created.UTC()}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: in.Platform.Architecture,
		OS:           in.Platform.OS,
		Variant:      in.Platform.Variant,
		Created:      created,
		Config:       s.config,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return Result{}, err
	}
	var adds []mutate.Addendum
	for _, n := range s.layers {
		l, err := layer(n)
		if err != nil {
			return Result{}, err
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{Created: created, CreatedBy: "k8simages: layer " + n}})
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return Result{}, err
	}
	r := Result{Ref: s.ref, File: containerimages.FileName(s.ref)}
	if r.Digest, err = img.Digest(); err != nil {
		return Result{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Result{}, err
	}
	r.Size = m.Config.Size
	for _, l := range m.Layers {
		r.Size += l.Size
	}
	return r, containerimages.WriteArchive(filepath.Join(outDir, r.File), tag, img)
}
