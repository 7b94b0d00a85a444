// Package console is the status channel every platform has: one line
//
//	KILN-STATUS {"phase":"kubeadm-join","ok":true}
//
// per status on the serial console, which hypervisors log (vSphere's serial
// port file, QEMU's -serial, GCE's serial port output) and `kiln run` and
// the boot test read back with ParseLine.
//
//	w, err := console.Open("/")
//	if err == nil {
//		defer w.Close()
//		err = w.ReportStatus(ctx, []byte(`{"phase":"init"}`))
//	}
package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kiln-build/kiln/firstboot/platform"
)

// Prefix starts every status line.
const Prefix = "KILN-STATUS "

// devices are tried in order, under the root: the first serial port, then
// whatever the kernel's console= points at.
var devices = [...]string{"dev/ttyS0", "dev/console"}

// FormatLine returns statusJSON as one console line: the prefix, the JSON
// object compacted onto one line, and a newline.
func FormatLine(statusJSON []byte) ([]byte, error) {
	c, err := platform.CompactStatus(statusJSON)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(Prefix)+len(c)+1)
	line = append(append(append(line, Prefix...), c...), '\n')
	return line, nil
}

// ParseLine finds a status in one line of console output, which may carry
// other text before it (a timestamp, kernel output interleaved, a CR). It
// returns the JSON object and true, or false when the line has no valid
// status.
func ParseLine(line []byte) ([]byte, bool) {
	i := bytes.LastIndex(line, []byte(Prefix))
	if i < 0 {
		return nil, false
	}
	c, err := platform.CompactStatus(bytes.TrimRight(line[i+len(Prefix):], "\r\n"))
	if err != nil {
		return nil, false
	}
	return c, true
}

// Writer writes status lines to a console device. It implements
// platform.StatusReporter.
type Writer struct {
	f    *os.File
	path string
}

// Open opens root/dev/ttyS0, or root/dev/console if that fails (no serial
// port), for writing. It never creates files: a device that does not exist is skipped.
func Open(root string) (*Writer, error) {
	var errs []error
	for _, d := range devices {
		p := filepath.Join(root, d)
		// O_NOCTTY: the agent must not acquire the console as its
		// controlling terminal (a hangup on it would signal the agent).
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|syscall.O_NOCTTY, 0)
		if err == nil {
			return &Writer{f: f, path: p}, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("opening a console for status lines: %w", errors.Join(errs...))
}

// Path is the device written to.
func (w *Writer) Path() string { return w.path }

// ReportStatus writes one status line, in a single write so that lines from
// concurrent writers do not interleave.
func (w *Writer) ReportStatus(_ context.Context, statusJSON []byte) error {
	line, err := FormatLine(statusJSON)
	if err != nil {
		return fmt.Errorf("formatting status line: %w", err)
	}
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("writing status to %s: %w", w.path, err)
	}
	return nil
}

// Close closes the device.
func (w *Writer) Close() error { return w.f.Close() }
