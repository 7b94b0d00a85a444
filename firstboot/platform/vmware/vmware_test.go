package vmware_test

import (
	"context"
	"errors"
	"github.com/kiln-build/kiln/firstboot/command"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/platform"
	"github.com/kiln-build/kiln/firstboot/platform/vmware"
)

// fakeRPC is a guestinfo store. refuseSet makes info-set fail the way a VM
// with isolation.tools.setinfo.disable does; ignoreSet accepts writes but
// drops them.
type fakeRPC struct {
	vals      map[string]string
	refuseSet bool
	ignoreSet bool
	getErr    error
}

func (f *fakeRPC) Get(_ context.Context, key string) (string, bool, error) {
	if f.getErr != nil {
		return "", false, f.getErr
	}
	v, ok := f.vals[key]
	return v, ok, nil
}

func (f *fakeRPC) Set(_ context.Context, key, value string) error {
	if f.refuseSet {
		return errors.New("refused: Permission denied")
	}
	if !f.ignoreSet {
		f.vals[key] = value
	}
	return nil
}

var (
	_ platform.Platform       = (*vmware.Platform)(nil)
	_ platform.StatusReporter = (*vmware.Platform)(nil)
	_ platform.SecretScrubber = (*vmware.Platform)(nil)
)

func TestMetadata(t *testing.T) {
	ctx := context.Background()
	want := string(readFile(t, "testdata/metadata.yaml"))
	gz := string(readFile(t, "testdata/decode/gzip-base64/value"))
	tests := []struct {
		name    string
		vals    map[string]string
		want    string
		noMeta  bool
		badMeta bool
	}{
		{"plain", map[string]string{vmware.KeyMetadata: want}, want, false, false},
		{"gzip+base64", map[string]string{vmware.KeyMetadata: gz, vmware.KeyEncoding: "gzip+base64"}, want, false, false},
		{"unset", map[string]string{}, "", true, false},
		{"scrubbed", map[string]string{vmware.KeyMetadata: " ", vmware.KeyEncoding: " "}, "", true, false},
		{"cloud-init redacted", map[string]string{vmware.KeyMetadata: "---"}, "", true, false},
		{"base64 of nothing", map[string]string{vmware.KeyMetadata: "  \n", vmware.KeyEncoding: "base64"}, "", true, false},
		{"bad encoding", map[string]string{vmware.KeyMetadata: "x", vmware.KeyEncoding: "rot13"}, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := vmware.New(vmware.Options{RPC: &fakeRPC{vals: tt.vals}})
			got, err := p.Metadata(ctx)
			if tt.noMeta != errors.Is(err, platform.ErrNoMetadata) {
				t.Fatalf("Metadata error %v; want ErrNoMetadata: %v", err, tt.noMeta)
			}
			var bad *platform.BadMetadataError
			if tt.badMeta != errors.As(err, &bad) {
				t.Fatalf("Metadata error %v; want BadMetadataError: %v", err, tt.badMeta)
			}
			if !tt.noMeta && !tt.badMeta && (err != nil || string(got) != tt.want) {
				t.Fatalf("Metadata = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	p := vmware.New(vmware.Options{RPC: &fakeRPC{getErr: errors.New("channel closed")}})
	if _, err := p.Metadata(ctx); err == nil || errors.Is(err, platform.ErrNoMetadata) || !strings.Contains(err.Error(), "channel closed") {
		t.Errorf("RPC failure: error %v, want it passed on (not ErrNoMetadata)", err)
	}
}

func TestScrubAndStatus(t *testing.T) {
	ctx := context.Background()
	f := &fakeRPC{vals: map[string]string{
		vmware.KeyMetadata:          "secret",
		vmware.KeyEncoding:          "base64",
		"guestinfo.kiln.join-token": "abcdef.0123456789abcdef",
		"guestinfo.other":           "keep",
	}}
	p := vmware.New(vmware.Options{RPC: f, SecretKeys: []string{"guestinfo.kiln.join-token"}})
	if err := p.ScrubMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{vmware.KeyMetadata, vmware.KeyEncoding, "guestinfo.kiln.join-token"} {
		if f.vals[k] != " " {
			t.Errorf("after scrub %s = %q, want a single space", k, f.vals[k])
		}
	}
	if f.vals["guestinfo.other"] != "keep" {
		t.Errorf("scrub touched guestinfo.other")
	}
	if _, err := p.Metadata(ctx); !errors.Is(err, platform.ErrNoMetadata) {
		t.Errorf("Metadata after scrub: %v, want ErrNoMetadata", err)
	}

	if err := p.ReportStatus(ctx, []byte("{\n \"phase\": \"kubeadm-join\",\n \"ok\": true\n}\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := f.vals[vmware.KeyStatus], `{"phase":"kubeadm-join","ok":true}`; got != want {
		t.Errorf("guestinfo.kiln.status = %q, want %q", got, want)
	}
	if err := p.ReportStatus(ctx, []byte("not json")); err == nil {
		t.Error("ReportStatus accepted non-JSON")
	}

	refused := vmware.New(vmware.Options{RPC: &fakeRPC{vals: map[string]string{vmware.KeyMetadata: "x"}, refuseSet: true}})
	if err := refused.ScrubMetadata(ctx); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("scrub with info-set refused: %v, want the refusal", err)
	}
	ignored := vmware.New(vmware.Options{RPC: &fakeRPC{vals: map[string]string{vmware.KeyMetadata: "x"}, ignoreSet: true}})
	if err := ignored.ScrubMetadata(ctx); err == nil || !strings.Contains(err.Error(), "still set") {
		t.Errorf("scrub with writes dropped: %v, want the read-back check to fail", err)
	}
}

// fakeRunner plays vmware-rpctool: a guestinfo map behind the command line
// the real tool takes (one argument, "info-get KEY" or "info-set KEY VALUE").
type fakeRunner struct {
	vals  map[string]string
	calls [][]string
}

func (f *fakeRunner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, append([]string{name}, args...))
	if name != "vmware-rpctool" || len(args) != 1 {
		return nil, &command.Error{Cmd: name, ExitCode: 1, Stderr: []byte("usage")}
	}
	cmd, rest, _ := strings.Cut(args[0], " ")
	switch cmd {
	case "info-get":
		v, ok := f.vals[rest]
		if !ok {
			return nil, &command.Error{Cmd: name, ExitCode: 1, Stderr: []byte("No value found\n")}
		}
		return []byte(v + "\n"), nil
	case "info-set":
		k, v, _ := strings.Cut(rest, " ")
		f.vals[k] = v
		return nil, nil
	}
	return nil, &command.Error{Cmd: name, ExitCode: 1, Stderr: []byte("Unknown command")}
}

// TestRPCToolFallback checks that a machine DMI does not call VMware never
// probes the backdoor and goes through vmware-rpctool.
func TestRPCToolFallback(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dmi := filepath.Join(root, "sys/class/dmi/id")
	if err := os.MkdirAll(dmi, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dmi, "sys_vendor"), []byte("QEMU\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := readFile(t, "testdata/metadata.yaml")
	r := &fakeRunner{vals: map[string]string{
		vmware.KeyMetadata: string(readFile(t, "testdata/decode/base64/value")),
		vmware.KeyEncoding: "base64",
	}}
	p := vmware.New(vmware.Options{Root: root, Runner: r})
	got, err := p.Metadata(ctx)
	if err != nil || string(got) != string(want) {
		t.Fatalf("Metadata = %q, %v; want %q", got, err, want)
	}
	if err := p.ReportStatus(ctx, []byte(`{"phase":"done"}`)); err != nil {
		t.Fatal(err)
	}
	wantCalls := [][]string{
		{"vmware-rpctool", "info-get guestinfo.kiln.metadata"},
		{"vmware-rpctool", "info-get guestinfo.kiln.metadata.encoding"},
		{"vmware-rpctool", `info-set guestinfo.kiln.status {"phase":"done"}`},
	}
	if !slices.EqualFunc(r.calls, wantCalls, slices.Equal) {
		t.Errorf("calls = %q, want %q", r.calls, wantCalls)
	}
	if err := p.ScrubMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Metadata(ctx); !errors.Is(err, platform.ErrNoMetadata) {
		t.Errorf("after scrub: %v, want ErrNoMetadata", err)
	}

	empty := vmware.New(vmware.Options{Root: root, Runner: &fakeRunner{vals: map[string]string{}}})
	if _, err := empty.Metadata(ctx); !errors.Is(err, platform.ErrNoMetadata) {
		t.Errorf("rpctool with no value: %v, want ErrNoMetadata", err)
	}
}

func TestRPCToolErrors(t *testing.T) {
	ctx := context.Background()
	// vmware-rpctool not installed.
	tool := vmware.RPCTool{Runner: command.ExecRunner{}, Path: "/nonexistent/vmware-rpctool"}
	if _, _, err := tool.Get(ctx, vmware.KeyMetadata); err == nil {
		t.Error("Get with a missing vmware-rpctool succeeded")
	}
	// A real process printing what vmware-rpctool prints off VMware.
	script := filepath.Join(t.TempDir(), "vmware-rpctool")
	body := "#!/bin/sh\necho 'Failed sending message to VMware.' >&2\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	tool.Path = script
	_, _, err := tool.Get(ctx, vmware.KeyMetadata)
	if err == nil || !strings.Contains(err.Error(), "Failed sending message to VMware.") {
		t.Errorf("Get = %v, want the tool's message", err)
	}
	if err := tool.Set(ctx, vmware.KeyStatus, "{}"); err == nil {
		t.Error("Set succeeded with a failing tool")
	}
}
