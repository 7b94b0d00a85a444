package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The extraConfig keys kiln reads and writes. The first three are the
// contract with the guest agent (firstboot/platform/vmware); the others
// mark what kiln made, so that a re-run recognises its own VMs and never
// touches anyone else's.
const (
	KeyMetadata = "guestinfo.kiln.metadata"
	KeyEncoding = "guestinfo.kiln.metadata.encoding"
	KeyStatus   = "guestinfo.kiln.status"
	// KeyImageSHA256 is on a template kiln uploaded: the OVA's SHA-256.
	// Clones inherit it, which tells which image a node runs.
	KeyImageSHA256 = "guestinfo.kiln.image.sha256"
	// KeyCluster, KeyClusterID, KeyClusterCA and KeyNode are on a VM kiln
	// cloned: the cluster's name, its bundle ID, its CA certificate hash
	// and the node's name. None is secret. The ID or the CA hash, with the
	// node, is what a VM is recognised by, whatever its name.
	KeyCluster   = "guestinfo.kiln.cluster"
	KeyClusterID = "guestinfo.kiln.cluster.id"
	KeyClusterCA = "guestinfo.kiln.cluster.caCertHash"
	KeyNode      = "guestinfo.kiln.node"
)

// vmProps are the properties kiln reads of the VMs it looks at.
var vmProps = []string{"name", "config.template", "config.extraConfig", "config.hardware.device",
	"runtime.powerState", "runtime.host", "guest.ipAddress", "snapshot", "resourcePool"}

// vmInfo is one VM found by name.
type vmInfo struct {
	mo.VirtualMachine
	extra map[string]string
}

func newVMInfo(m mo.VirtualMachine) *vmInfo {
	v := &vmInfo{VirtualMachine: m, extra: map[string]string{}}
	if m.Config != nil {
		for _, o := range m.Config.ExtraConfig {
			ov := o.GetOptionValue()
			if s, ok := ov.Value.(string); ok {
				v.extra[ov.Key] = s
			}
		}
	}
	return v
}

func (v *vmInfo) template() bool { return v.Config != nil && v.Config.Template }

func (v *vmInfo) object(c *Client) *object.VirtualMachine {
	return object.NewVirtualMachine(c.vim, v.Self)
}

// findVMs looks for VMs by name under the settings' folder (recursively;
// the whole datacenter when no folder is set). Each name maps to every VM
// that has it: vSphere names are unique only within one folder.
func (c *Client) findVMs(ctx context.Context, names ...string) (map[string][]*vmInfo, error) {
	root, err := c.vmFolder(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	m := view.NewManager(c.vim)
	v, err := m.CreateContainerView(ctx, root.Reference(), []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, fmt.Errorf("listing VMs: %w", err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var all []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name"}, &all); err != nil {
		return nil, fmt.Errorf("listing VMs: %w", err)
	}
	var refs []types.ManagedObjectReference
	for _, vm := range all {
		if want[vm.Name] {
			refs = append(refs, vm.Self)
		}
	}
	out := map[string][]*vmInfo{}
	if len(refs) == 0 {
		return out, nil
	}
	var got []mo.VirtualMachine
	if err := property.DefaultCollector(c.vim).Retrieve(ctx, refs, vmProps, &got); err != nil {
		return nil, fmt.Errorf("reading VMs: %w", err)
	}
	for _, vm := range got {
		out[vm.Name] = append(out[vm.Name], newVMInfo(vm))
	}
	return out, nil
}

// findVM is findVMs for one name: nil when there is none, an error when
// there are several.
func (c *Client) findVM(ctx context.Context, name string) (*vmInfo, error) {
	found, err := c.findVMs(ctx, name)
	if err != nil {
		return nil, err
	}
	return single(name, found[name])
}

func single(name string, vms []*vmInfo) (*vmInfo, error) {
	switch len(vms) {
	case 0:
		return nil, nil
	case 1:
		return vms[0], nil
	}
	return nil, fmt.Errorf("%d VMs are named %s; kiln needs the name to be unique (set GOVC_FOLDER to narrow the search)", len(vms), name)
}

// waitFor returns a function that waits for the task a call started and
// returns its fault as a plain error: waitFor(ctx)(vm.PowerOn(ctx)).
func waitFor(ctx context.Context) func(*object.Task, error) error {
	return func(t *object.Task, err error) error {
		if err != nil {
			return taskError(err)
		}
		if err := t.Wait(ctx); err != nil {
			return taskError(err)
		}
		return nil
	}
}

// taskError says what a task fault was: its message, or the fault's type
// when it has none (the simulator leaves most messages empty).
func taskError(err error) error {
	var te task.Error
	if !errors.As(err, &te) || te.LocalizedMethodFault == nil {
		return err
	}
	msg := strings.TrimSpace(te.LocalizedMessage)
	if te.Fault() != nil {
		kind := strings.TrimPrefix(fmt.Sprintf("%T", te.Fault()), "*types.")
		if msg == "" || msg == "*types."+kind {
			msg = kind
			if d, ok := te.Fault().(*types.DuplicateName); ok {
				msg = fmt.Sprintf("DuplicateName: the name %s is already in use", d.Name)
			}
		}
		return &FaultError{Kind: kind, Msg: msg, Fault: te.Fault()}
	}
	if msg == "" {
		msg = "the task failed without saying why"
	}
	return errors.New(msg)
}

// FaultError is a vSphere fault from a task.
type FaultError struct {
	Kind  string // the fault type, e.g. "DuplicateName"
	Msg   string
	Fault types.BaseMethodFault
}

func (e *FaultError) Error() string { return e.Msg }

// destroy powers a VM off when it is on, then deletes it and its files.
// It runs even when ctx is cancelled (it is cleanup), bounded by its own
// deadline in the caller.
func (c *Client) destroy(ctx context.Context, ref types.ManagedObjectReference) error {
	vm := object.NewVirtualMachine(c.vim, ref)
	state, err := vm.PowerState(ctx)
	if err != nil {
		return fmt.Errorf("reading the power state: %w", err)
	}
	if state == types.VirtualMachinePowerStatePoweredOn || state == types.VirtualMachinePowerStateSuspended {
		if err := waitFor(ctx)(vm.PowerOff(ctx)); err != nil {
			return fmt.Errorf("powering off: %w", err)
		}
	}
	if err := waitFor(ctx)(vm.Destroy(ctx)); err != nil {
		return fmt.Errorf("destroying: %w", err)
	}
	return nil
}
