//go:build linux && (amd64 || 386)

package vmware

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/vmware/vmw-guestinfo/message"
	"github.com/vmware/vmw-guestinfo/rpcout"
	"github.com/vmware/vmw-guestinfo/vmcheck"
)

// silenceOnce replaces vmw-guestinfo's default logger, which prints channel
// errors with the standard log package: a library must stay silent, and
// every failure reaches the caller as an error anyway.
var silenceOnce sync.Once

type discardLogger struct{}

func (discardLogger) Errorf(string, ...interface{}) {}
func (discardLogger) Debugf(string, ...interface{}) {}
func (discardLogger) Infof(string, ...interface{})  {}

// backdoor speaks RPCI over the VMware backdoor I/O port.
type backdoor struct{}

// openBackdoor returns the backdoor transport when it answers. Callers
// must only call it once DMI says the machine is a VMware VM; the probe
// itself also checks the CPUID hypervisor signature ("VMwareVMware")
// before touching the port, and runs under onBackdoorThread so that a
// fault becomes an error.
func openBackdoor() RPC {
	silenceOnce.Do(func() { message.DefaultLogger = discardLogger{} })
	var ok bool
	err := onBackdoorThread(context.Background(), true, func() error {
		var err error
		ok, err = vmcheck.IsVirtualWorld(true)
		return err
	})
	if err != nil || !ok {
		return nil
	}
	return backdoor{}
}

// onBackdoorThread runs fn on an OS thread of its own that is thrown away
// afterwards (LockOSThread without Unlock), so the raised I/O privilege
// level (iopl 3, needed where VMware restricts the backdoor to it) never
// leaks to other goroutines. A fault inside fn (the backdoor instruction on
// a machine without the port raises #GP, delivered as SIGSEGV) is turned
// into an error by SetPanicOnFault and recover instead of killing the
// agent.
func onBackdoorThread(ctx context.Context, raiseIOPL bool, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("vmware backdoor faulted: %v", r)
			}
		}()
		debug.SetPanicOnFault(true)
		if raiseIOPL {
			_ = syscall.Iopl(3) // best effort: VMware usually allows the port at any level
		}
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (backdoor) Get(ctx context.Context, key string) (string, bool, error) {
	var (
		reply []byte
		ok    bool
	)
	err := onBackdoorThread(ctx, true, func() error {
		var err error
		reply, ok, err = rpcout.SendOne("info-get %s", key)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("backdoor info-get %s: %w", key, err)
	}
	if !ok {
		if strings.TrimSpace(string(reply)) == noValue {
			return "", false, nil
		}
		return "", false, fmt.Errorf("backdoor info-get %s: %s", key, reply)
	}
	return string(reply), true, nil
}

func (backdoor) Set(ctx context.Context, key, value string) error {
	var (
		reply []byte
		ok    bool
	)
	err := onBackdoorThread(ctx, true, func() error {
		var err error
		reply, ok, err = rpcout.SendOne("info-set %s %s", key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("backdoor info-set %s: %w", key, err)
	}
	if !ok {
		return fmt.Errorf("backdoor info-set %s: refused: %s", key, reply)
	}
	return nil
}
