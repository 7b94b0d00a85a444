package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Runner runs a command on the live system and returns its standard output.
// Its method set is the same as firstboot/platform's Runner, so one value
// serves both.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// CommandError is a command that ran and exited non-zero.
type CommandError struct {
	Cmd      string // name and arguments, for messages
	ExitCode int    // -1 when killed by a signal
	Stderr   []byte
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(string(e.Stderr))
	if len(msg) > 2000 {
		msg = "..." + msg[len(msg)-2000:]
	}
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Cmd, e.ExitCode)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Cmd, e.ExitCode, msg)
}

// ExecRunner runs commands with os/exec, looking names up in PATH.
type ExecRunner struct{}

// Run runs name with args. A non-zero exit is a *CommandError.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), &CommandError{Cmd: CommandLine(name, args...), ExitCode: ee.ExitCode(), Stderr: stderr.Bytes()}
	}
	return nil, fmt.Errorf("running %s: %w", name, err)
}

// CommandLine renders a command as a shell would read it, quoting arguments
// that need it; for plans and messages.
func CommandLine(name string, args ...string) string {
	parts := make([]string, 0, 1+len(args))
	for _, a := range append([]string{name}, args...) {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// Host is one node's operating system: files under Root, commands through
// Runner.
type Host struct {
	// Root is where the node's filesystem is; "" means /.
	Root string
	// Runner runs commands on the live system; nil means ExecRunner.
	Runner Runner
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
		r = ExecRunner{}
	}
	out, err := r.Run(ctx, name, args...)
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) {
			return out, err
		}
		return out, fmt.Errorf("%s: %w", CommandLine(name, args...), err)
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
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(full)+".kiln-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this is a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, full); err != nil {
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
