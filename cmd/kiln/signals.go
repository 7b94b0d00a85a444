package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals end a command the way a failure does, so that its cleanup
// runs (kiln build removes its staging tree): Ctrl-C, a service manager's
// SIGTERM and the SIGHUP of a dropped ssh session.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// interruptedError is the cause of a context ended by a signal.
type interruptedError struct{ sig syscall.Signal }

func (e *interruptedError) Error() string { return "interrupted by " + signalName(e.sig) }

// errBrokenPipe is the cause of a context ended because the reader of
// standard output or standard error went away (`kiln build ... | head -3`).
var errBrokenPipe = errors.New("standard output or standard error closed")

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return s.String()
}

// signalContext returns a context that ends, with an *interruptedError
// as its cause, on any of stopSignals. Go's default for a broken pipe on
// standard output or error is to die at once, skipping every cleanup;
// taking SIGPIPE instead turns such a write into an EPIPE error, which
// the outputWriters turn into the end of the context. SIGPIPE from
// anything else (a download's socket) stays what it is without a
// handler: nothing, the write fails. Child processes start with the
// default disposition either way, as signal handlers do not survive exec.
func signalContext(parent context.Context) (context.Context, context.CancelCauseFunc, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stops := make(chan os.Signal, 1)
	signal.Notify(stops, stopSignals...)
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-stops:
				// Later signals are taken too: the cleanup of a
				// build tree must not be cut short by a second Ctrl-C.
				cancel(&interruptedError{sig: s.(syscall.Signal)})
			case <-pipes:
			case <-done:
				return
			}
		}
	}()
	stop := func() {
		close(done)
		signal.Stop(stops)
		signal.Stop(pipes)
	}
	return ctx, cancel, stop
}

// outputWriter is standard output or error: a write that finds the pipe
// closed ends the command's context, so a build stops and cleans up.
type outputWriter struct {
	f      *os.File
	cancel context.CancelCauseFunc
}

func (w *outputWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		w.cancel(errBrokenPipe)
	}
	return n, err
}

// File is the file written to, for terminal and permission checks.
func (w *outputWriter) File() *os.File { return w.f }

// fileOf returns the *os.File behind w, if any.
func fileOf(w any) (*os.File, bool) {
	switch f := w.(type) {
	case *os.File:
		return f, true
	case interface{ File() *os.File }:
		return f.File(), true
	}
	return nil, false
}

// exitAfter ends the process after a command ended by ctx's cause: by
// the shell's convention for a signal (128+n; silently for a broken
// pipe) or with one line on stderr and exitCode.
func exitAfter(ctx context.Context, err error, stderr io.Writer) {
	cause := context.Cause(ctx)
	if errors.Is(cause, errBrokenPipe) {
		os.Exit(128 + int(syscall.SIGPIPE)) // nothing to say: no one reads it
	}
	var ie *interruptedError
	if errors.As(cause, &ie) {
		fmt.Fprintln(stderr, "kiln: "+ie.Error())
		os.Exit(128 + int(ie.sig))
	}
	if err != nil {
		fmt.Fprintln(stderr, "kiln: "+oneLine(err))
		os.Exit(exitCode(err))
	}
}
