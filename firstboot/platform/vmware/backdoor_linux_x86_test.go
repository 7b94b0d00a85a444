//go:build linux && (amd64 || 386)

package vmware

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/vmw-guestinfo/bdoor"
	"github.com/vmware/vmw-guestinfo/vmcheck"
)

// TestBackdoorFaultIsAnError executes the real backdoor instruction without
// raising the I/O privilege level. Off VMware the CPU raises #GP (SIGSEGV
// in user space); the guard must turn that into an error, not a crash.
func TestBackdoorFaultIsAnError(t *testing.T) {
	if vmcheck.IsVirtualCPU() {
		t.Skip("running inside VMware: the backdoor answers instead of faulting")
	}
	err := onBackdoorThread(context.Background(), false, func() error {
		bp := &bdoor.BackdoorProto{}
		bp.CX.AsUInt32().SetWord(bdoor.CommandGetVersion)
		bp.InOut()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "faulted") {
		t.Fatalf("backdoor instruction off VMware: error %v, want a recovered fault", err)
	}
	t.Logf("recovered: %v", err)
}

// TestOpenBackdoorOffVMware checks the probe declines (via the CPUID
// signature) on a machine that is not a VMware VM, without faulting.
func TestOpenBackdoorOffVMware(t *testing.T) {
	if vmcheck.IsVirtualCPU() {
		t.Skip("running inside VMware")
	}
	if b := openBackdoor(); b != nil {
		t.Fatalf("openBackdoor() = %T off VMware, want nil", b)
	}
}
