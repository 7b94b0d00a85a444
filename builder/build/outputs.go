package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/gce"
	"github.com/kiln-build/kiln/builder/format/ova"
	"github.com/kiln-build/kiln/builder/format/qcow2"
	"github.com/kiln-build/kiln/builder/format/vmdk"
	"github.com/kiln-build/kiln/builder/spec"
)

// writeOutputs is the output stage: from the raw disk at rawPath it writes
// every output the profile asks for into stage, in spec.KnownOutputs
// order, and returns each with its size and sha256. The raw disk is an
// output as it is, hashed alongside the encoders. The VMDK is compressed
// once, into scratch: the OVA packs it, NAME.vmdk is a copy with its own
// extent name and the GCE archive reuses its grains' deflate blocks.
func writeOutputs(ctx context.Context, p *spec.Profile, rawPath string, size int64, stage, scratch string, sde time.Time,
	run func(stage string, fn func() error) error) ([]Output, error) {
	raw, err := os.Open(rawPath)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	want := func(o spec.Output) bool { return slices.Contains(p.Outputs, o) }

	var encoded *vmdk.Encoded
	if want(spec.OutputVMDK) || want(spec.OutputOVA) {
		name := ovaVM(p).DiskFileName()
		path := filepath.Join(scratch, name)
		if err := run("encode vmdk", func() error {
			return format.WriteFile(ctx, path, vmdk.Encoder{FileName: name}, raw, size)
		}); err != nil {
			return nil, err
		}
		e, f, err := vmdk.OpenEncoded(path, name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		encoded = &e
	}

	type digest struct {
		sum string
		err error
	}
	rawSum := make(chan digest, 1)
	if want(spec.OutputRaw) {
		go func() {
			sum, err := format.Sum(raw, size)
			rawSum <- digest{sum, err}
		}()
	}
	var outs []Output
	for _, kind := range spec.KnownOutputs {
		if !want(kind) {
			continue
		}
		out := Output{Format: kind, File: OutputFile(p.Name, kind)}
		if err := run("format "+string(kind), func() (err error) {
			if kind == spec.OutputRaw {
				return nil // the disk itself; its digest is on its way
			}
			out.SHA256, out.Size, err = format.WriteFileSum(ctx, filepath.Join(stage, out.File), encoder(p, kind, sde, encoded), raw, size)
			return err
		}); err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	for i := range outs {
		if outs[i].Format == spec.OutputRaw {
			d := <-rawSum
			if d.err != nil {
				return nil, fmt.Errorf("hashing %s: %w", outs[i].File, d.err)
			}
			outs[i].SHA256, outs[i].Size = d.sum, size
		}
	}
	return outs, nil
}

// encoder is what writes one output from the raw disk; the VMDK, the OVA
// and the GCE archive are derived from the VMDK encoded once.
func encoder(p *spec.Profile, kind spec.Output, sde time.Time, encoded *vmdk.Encoded) format.Encoder {
	switch kind {
	case spec.OutputQCOW2:
		return qcow2.Encoder{}
	case spec.OutputVMDK:
		return vmdk.Renamed{From: *encoded, FileName: OutputFile(p.Name, kind)}
	case spec.OutputOVA:
		return ova.Encoder{VM: ovaVM(p), ModTime: sde, VMDK: encoded}
	case spec.OutputGCE:
		return gce.Encoder{ModTime: sde, VMDK: encoded}
	}
	panic(fmt.Sprintf("build: no encoder for output %q", kind)) // spec.Validate admits only KnownOutputs
}

// OutputFile is the file name of an image's output: NAME.FORMAT, and
// NAME-gce.tar.gz for Compute Engine, as its image import expects.
func OutputFile(name string, kind spec.Output) string {
	if kind == spec.OutputGCE {
		return gce.FileName(name)
	}
	return name + "." + string(kind)
}
