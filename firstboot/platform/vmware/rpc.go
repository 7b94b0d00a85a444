package vmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"strings"
)

// RPC is the guest side of the guestinfo store.
type RPC interface {
	// Get returns the value of key, and false when the key is not set.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	// Set sets key to value for the running VM.
	Set(ctx context.Context, key, value string) error
}

// noValue is what the VMX answers to info-get for a key that is not set.
const noValue = "No value found"

// RPCTool talks to guestinfo by running vmware-rpctool (open-vm-tools).
type RPCTool struct {
	Runner command.Runner // nil = command.ExecRunner
	Path   string         // "" = vmware-rpctool from PATH
}

func (t RPCTool) run(ctx context.Context, rpc string) ([]byte, error) {
	r, path := t.Runner, t.Path
	if r == nil {
		r = command.ExecRunner{}
	}
	if path == "" {
		path = "vmware-rpctool"
	}
	return r.Run(ctx, path, rpc)
}

// Get runs `vmware-rpctool "info-get KEY"`. The tool prints the value and a
// newline, or "No value found" on standard error with exit status 1.
func (t RPCTool) Get(ctx context.Context, key string) (string, bool, error) {
	out, err := t.run(ctx, "info-get "+key)
	var ce *command.Error
	if errors.As(err, &ce) && strings.TrimSpace(string(ce.Stderr)) == noValue {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("vmware-rpctool info-get %s: %w", key, err)
	}
	return string(bytes.TrimSuffix(out, []byte("\n"))), true, nil
}

// Set runs `vmware-rpctool "info-set KEY VALUE"`.
func (t RPCTool) Set(ctx context.Context, key, value string) error {
	if _, err := t.run(ctx, "info-set "+key+" "+value); err != nil {
		return fmt.Errorf("vmware-rpctool info-set %s: %w", key, err)
	}
	return nil
}
