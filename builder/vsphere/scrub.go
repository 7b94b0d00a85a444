package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

// Scrubbed is the action of a node whose metadata Scrub cleared; Skipped
// that of a node Scrub left alone because its first boot is not over.
const (
	Scrubbed NodeAction = "scrubbed"
	Skipped  NodeAction = "skipped"
)

// ScrubOptions say which nodes to scrub.
type ScrubOptions struct {
	Nodes  []string // empty: all
	Prefix string
	// Force clears nodes whose first boot is not done too: such a node
	// can no longer start over from its metadata.
	Force bool
}

// Scrub clears guestinfo.kiln.metadata (which holds a control plane's CA
// keys) from the configuration of the nodes whose first boot is done. The
// agent keeps its own copy on the node and blanks the value it sees from
// inside the guest, but on vSphere that only covers the running VM: the
// value stays in the VM's configuration, readable by anyone who can read
// it, until it is cleared from the vCenter side, which is what this does.
func (c *Client) Scrub(ctx context.Context, spec *cluster.Spec, opts ScrubOptions) ([]NodeResult, error) {
	st, err := c.Status(ctx, spec, StatusOptions{Nodes: opts.Nodes, Prefix: opts.Prefix})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range st {
		if s.Exists && !s.Foreign {
			names = append(names, s.VM)
		}
	}
	found, err := c.findVMs(ctx, names...)
	if err != nil {
		return nil, err
	}
	var out []NodeResult
	var failed []string
	for _, s := range st {
		r := NodeResult{Node: s.Node, Role: s.Role, VM: s.VM, PowerState: s.PowerState}
		switch {
		case !s.Exists:
			r.Action = Absent
		case s.Foreign:
			r.Action, r.Error = Failed, s.Problem
			failed = append(failed, s.Node)
		case s.Phase != config.PhaseDone && !opts.Force:
			r.Action = Skipped
		default:
			vm, err := single(s.VM, found[s.VM])
			if err == nil && vm == nil {
				err = fmt.Errorf("VM %s disappeared", s.VM)
			}
			if err == nil {
				spec := types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
					&types.OptionValue{Key: KeyMetadata, Value: ""},
				}}
				err = waitFor(ctx)(object.NewVirtualMachine(c.vim, vm.Self).Reconfigure(ctx, spec))
			}
			if err != nil {
				r.Action, r.Error = Failed, err.Error()
				failed = append(failed, s.Node)
			} else {
				r.Action = Scrubbed
			}
		}
		out = append(out, r)
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("could not clear the metadata of %v", failed)
	}
	return out, nil
}
