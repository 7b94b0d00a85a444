package qemu_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/kiln-build/kiln/firstboot/command"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/qemu"
)

var _ platform.Platform = (*qemu.Platform)(nil)

// fakeModprobe records calls and, when load is set, creates the fw_cfg
// tree the way loading the real module does.
type fakeModprobe struct {
	root  string
	load  map[string][]byte // items to expose; nil = the module does not load
	calls [][]string
}

func (f *fakeModprobe) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, append([]string{name}, args...))
	if f.load == nil {
		return nil, &command.Error{Cmd: name, ExitCode: 1, Stderr: []byte("modprobe: FATAL: Module qemu_fw_cfg not found")}
	}
	writeItems(f.root, f.load)
	return nil, nil
}

func writeItems(root string, items map[string][]byte) {
	base := filepath.Join(root, qemu.FWCfgDir, "by_name")
	os.MkdirAll(base, 0o755)
	for name, b := range items {
		dir := filepath.Join(base, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "raw"), b, 0o444)
	}
}

func TestMetadata(t *testing.T) {
	ctx := context.Background()
	want, err := os.ReadFile("testdata/metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		present   map[string][]byte // items already exposed at start
		load      map[string][]byte // items the fake modprobe exposes
		want      []byte
		noMeta    bool
		modprobes int
		errText   string
	}{
		{"module loaded", map[string][]byte{qemu.ItemName: want, "etc/boot-menu-wait": {0, 0}}, nil, want, false, 0, ""},
		{"module loaded by modprobe", nil, map[string][]byte{qemu.ItemName: want}, want, false, 1, ""},
		{"no kiln item", map[string][]byte{"etc/boot-menu-wait": {0, 0}}, nil, nil, true, 0, ""},
		{"empty item", map[string][]byte{qemu.ItemName: []byte("\n")}, nil, nil, true, 0, ""},
		{"module missing", nil, nil, nil, false, 1, "Module qemu_fw_cfg not found"},
		{"module loads but no device", nil, map[string][]byte{}, nil, false, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.present != nil {
				writeItems(root, tt.present)
			}
			r := &fakeModprobe{root: root, load: tt.load}
			got, err := qemu.New(qemu.Options{Root: root, Runner: r}).Metadata(ctx)
			switch {
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Metadata error %v, want %q", err, tt.errText)
				}
			case tt.noMeta || tt.want == nil:
				if !errors.Is(err, platform.ErrNoMetadata) {
					t.Fatalf("Metadata = %q, %v; want ErrNoMetadata", got, err)
				}
			default:
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("Metadata = %q, %v; want %q", got, err, tt.want)
				}
			}
			if len(r.calls) != tt.modprobes {
				t.Errorf("modprobe calls %q, want %d", r.calls, tt.modprobes)
			}
			for _, c := range r.calls {
				if !slices.Equal(c, []string{"modprobe", "qemu_fw_cfg"}) {
					t.Errorf("ran %q, want modprobe qemu_fw_cfg", c)
				}
			}
		})
	}
}

func TestMetadataTooBig(t *testing.T) {
	root := t.TempDir()
	writeItems(root, map[string][]byte{qemu.ItemName: bytes.Repeat([]byte("x"), platform.MaxMetadataSize+1)})
	_, err := qemu.New(qemu.Options{Root: root, Runner: &fakeModprobe{}}).Metadata(context.Background())
	var bad *platform.BadMetadataError
	if !errors.As(err, &bad) {
		t.Fatalf("oversized item: %v, want BadMetadataError", err)
	}
}
