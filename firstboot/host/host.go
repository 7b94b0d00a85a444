package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/atomicfile"
	"github.com/kiln-build/kiln/firstboot/command"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Host is one node's operating system: files under Root, commands through
// Runner.
type Host struct {
	// Root is where the node's filesystem is; "" means /.
	Root string
	// Runner runs commands on the live system; nil means command.ExecRunner.
	Runner command.Runner
	// Sethostname sets the running kernel's host name; nil means
	// sethostname(2).
	Sethostname func(name string) error
	// Wrote, when set, is told the node path and mode of every file
	// written, in order (kiln-firstboot --dry-run prints them).
	Wrote func(path string, mode fs.FileMode)
	// DryRun is set when Runner does not really run commands: what depends
	// on their effects (a user useradd would create) is not looked up and
	// file ownership is not changed.
	DryRun bool
}

func (h *Host) root() string {
	if h.Root == "" {
		return "/"
	}
	return h.Root
}

// Path returns where the node path p (absolute, as the node sees it) is
// under Root.
func (h *Host) Path(p string) string {
	return filepath.Join(h.root(), filepath.FromSlash(p))
}

// Run runs a command through the Runner.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	r := h.Runner
	if r == nil {
		r = command.ExecRunner{}
	}
	out, err := r.Run(ctx, name, args...)
	if err != nil {
		var ce *command.Error
		if errors.As(err, &ce) {
			return out, err
		}
		return out, fmt.Errorf("%s: %w", command.Line(name, args...), err)
	}
	return out, nil
}

// Exists reports whether the node path p exists (a dangling link counts).
func (h *Host) Exists(p string) bool {
	_, err := os.Lstat(h.Path(p))
	return err == nil
}

// ReadFile reads the node path p.
func (h *Host) ReadFile(p string) ([]byte, error) {
	return os.ReadFile(h.Path(p))
}

// WriteFile writes data to the node path p with mode, creating parent
// directories (0755): to a temporary file in the same directory, then
// renamed over p, so that p is never partly written. A file already holding
// data with that mode is left alone.
func (h *Host) WriteFile(p string, data []byte, mode fs.FileMode) error {
	full := h.Path(p)
	if h.Wrote != nil {
		h.Wrote(p, mode)
	}
	if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == mode.Perm() {
		if old, err := os.ReadFile(full); err == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	// The node's file is named as the node sees it, not by its host path
	// in a dry run.
	if err := atomicfile.WriteFile(full, data, atomicfile.Options{Mode: mode, MakeDirs: true}); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// Remove removes the node path p; a missing file is not an error.
func (h *Host) Remove(p string) error {
	if err := os.Remove(h.Path(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}

// Hostname writes /etc/hostname and sets the running kernel's host name.
func (h *Host) Hostname(ctx context.Context, name string) error {
	if err := h.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	set := h.Sethostname
	if set == nil {
		set = func(n string) error { return unix.Sethostname([]byte(n)) }
	}
	if err := set(name); err != nil {
		return fmt.Errorf("setting the host name to %s: %w", name, err)
	}
	return nil
}
