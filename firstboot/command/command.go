// Package command runs the commands the agent needs on a node (nmcli,
// systemctl, kubeadm, vmware-rpctool, modprobe...) behind one small
// interface, so tests and dry runs can replace them, and says how one
// failed in one error type.
//
// firstboot/host and the platforms declared their own copies of these,
// which had drifted; this is the one copy.
//
//	out, err := command.ExecRunner{}.Run(ctx, "systemctl", "is-active", "kubelet")
//	var ce *command.Error
//	if errors.As(err, &ce) && ce.ExitCode == 3 {
//		// inactive
//	}
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs a command and returns its standard output.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Error is a command that ran and exited non-zero. Fake runners
// return it too, so callers can look at the exit code and standard error.
type Error struct {
	Cmd      string // name and arguments as a shell would read them, for messages
	ExitCode int    // -1 when killed by a signal
	Stderr   []byte
}

// maxStderr bounds how much of a command's standard error a message
// carries: the end, where tools say what went wrong.
const maxStderr = 2000

func (e *Error) Error() string {
	msg := strings.TrimSpace(string(e.Stderr))
	if len(msg) > maxStderr {
		msg = "..." + msg[len(msg)-maxStderr:]
	}
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Cmd, e.ExitCode)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Cmd, e.ExitCode, msg)
}

// ExecRunner runs commands with os/exec, looking names up in PATH.
type ExecRunner struct{}

// Run runs name with args. A non-zero exit is a *Error; a missing
// binary an error wrapping exec.ErrNotFound.
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
		return stdout.Bytes(), &Error{Cmd: Line(name, args...), ExitCode: ee.ExitCode(), Stderr: stderr.Bytes()}
	}
	return nil, fmt.Errorf("running %s: %w", name, err)
}

// Line renders a command as a shell would read it, quoting arguments that
// need it; for plans and messages.
func Line(name string, args ...string) string {
	parts := make([]string, 0, 1+len(args))
	for _, a := range append([]string{name}, args...) {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

var _ Runner = ExecRunner{}
