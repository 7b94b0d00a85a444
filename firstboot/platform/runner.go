package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs a command and returns its standard output. Platforms that
// shell out (vmware-rpctool, modprobe) take one so tests can fake it.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// CommandError is a command that ran and failed. Fake runners return it too,
// so platforms can look at the exit code and standard error.
type CommandError struct {
	Cmd      string // name and arguments, for messages
	ExitCode int    // -1 when the command was killed by a signal
	Stderr   []byte
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(string(e.Stderr))
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Cmd, e.ExitCode)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Cmd, e.ExitCode, msg)
}

// ExecRunner runs commands with os/exec, looking names up in PATH.
type ExecRunner struct{}

// Run runs name with args. A non-zero exit is returned as *CommandError; a
// missing binary as an error wrapping exec.ErrNotFound.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), &CommandError{
			Cmd:      strings.Join(append([]string{name}, args...), " "),
			ExitCode: ee.ExitCode(),
			Stderr:   stderr.Bytes(),
		}
	}
	return nil, fmt.Errorf("running %s: %w", name, err)
}
