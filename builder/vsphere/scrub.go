package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

// Scrubbed is the action of a node whose VM configuration holds no secrets
// any more (Scrub cleared them, or they were cleared before); Skipped that
// of a node Scrub left alone because its first boot is not over: its
// secrets stay in the VM's configuration.
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
	// Wait keeps looking until every node's first boot is over, clearing
	// each node as it is done, until ctx ends.
	Wait bool
	// Interval between looks when waiting; 0 means 5 seconds.
	Interval time.Duration
	// Report, when set, hears about each node once its outcome is known.
	Report func(NodeResult)
}

// NotScrubbedError lists the nodes Scrub was asked to scrub whose VM
// configuration still holds their secrets.
type NotScrubbedError struct {
	// Nodes are the nodes left, each with why ("first boot not done (at
	// join)", "first boot failed", the vSphere error).
	Nodes []string
}

func (e *NotScrubbedError) Error() string {
	return fmt.Sprintf("%d nodes still hold secrets (the bootstrap token, a control plane's CA keys) in their VM configuration: %s",
		len(e.Nodes), strings.Join(e.Nodes, "; "))
}

// Scrub clears guestinfo.kiln.metadata (which holds a control plane's CA
// keys and every node's bootstrap token) from the configuration of the
// nodes whose first boot is done. The agent keeps its own copy on the node
// and blanks the value it sees from inside the guest, but on vSphere that
// only covers the running VM: the value stays in the VM's configuration,
// readable by anyone who can read it, until it is cleared from the vCenter
// side, which is what this does.
//
// A node whose first boot is not done is Skipped (with Force, cleared);
// with Wait, Scrub looks again every Interval and clears each node as it
// is done, until every node is done or failed, or ctx ends. A node without
// a VM is Absent. When any node asked for still holds its secrets at the
// end (skipped, failed, or not a node of this cluster), the error is a
// *NotScrubbedError naming each with why.
func (c *Client) Scrub(ctx context.Context, spec *cluster.Spec, opts ScrubOptions) ([]NodeResult, error) {
	report := opts.Report
	if report == nil {
		report = func(NodeResult) {}
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	nodes, err := selectNodes(spec, opts.Nodes)
	if err != nil {
		return nil, err
	}
	out := make([]NodeResult, len(nodes))
	final := make([]bool, len(nodes))
	why := make([]string, len(nodes)) // why a node still holds secrets
	for looked := false; ; looked = true {
		st, err := c.Status(ctx, spec, StatusOptions{Nodes: opts.Nodes, Prefix: opts.Prefix})
		if err != nil {
			if ctx.Err() != nil && looked {
				break // waited until the end: report where each node is
			}
			return nil, err
		}
		pending := false
		for i, s := range st {
			if final[i] {
				continue
			}
			r := NodeResult{Node: s.Node, Role: s.Role, VM: s.VM, PowerState: s.PowerState}
			switch {
			case !s.Exists:
				r.Action, final[i] = Absent, true
			case s.Foreign:
				r.Action, r.Error, final[i] = Failed, s.Problem, true
				why[i] = s.Problem
			case !s.Secrets:
				r.Action, final[i] = Scrubbed, true
			case s.Phase == config.PhaseDone || opts.Force:
				if err := c.clearMetadata(ctx, s.VM); err != nil {
					r.Action, r.Error = Failed, err.Error()
					why[i] = err.Error()
				} else {
					r.Action = Scrubbed
				}
				final[i] = true
			case s.Phase == config.PhaseFailed:
				r.Action, final[i] = Skipped, true
				why[i] = "first boot failed"
				if s.Error != "" {
					why[i] += ": " + s.Error
				}
				r.Error = why[i]
			default:
				r.Action = Skipped
				why[i] = "first boot not done (" + notDone(s) + ")"
				pending = true
			}
			out[i] = r
			if final[i] {
				report(r)
			}
		}
		if !pending || !opts.Wait {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
			continue
		}
		break
	}
	var left []string
	for i, r := range out {
		if !final[i] && opts.Wait && ctx.Err() != nil {
			why[i] += "; " + waitEnded(ctx)
		}
		if r.Action == Failed || r.Action == Skipped {
			out[i].Error = why[i]
			left = append(left, r.Node+": "+why[i])
		}
		if !final[i] {
			report(out[i])
		}
	}
	if len(left) > 0 {
		return out, &NotScrubbedError{Nodes: left}
	}
	return out, nil
}

// notDone says where a node that is not done is.
func notDone(s NodeStatus) string {
	if s.Phase == "" {
		return orUnknown(s.PowerState) + ", no report yet"
	}
	return "at " + string(s.Phase)
}

func waitEnded(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out waiting"
	}
	return "stopped waiting"
}

// clearMetadata blanks guestinfo.kiln.metadata of the named VM.
func (c *Client) clearMetadata(ctx context.Context, name string) error {
	vm, err := c.findVM(ctx, name)
	if err == nil && vm == nil {
		err = fmt.Errorf("VM %s disappeared", name)
	}
	if err != nil {
		return err
	}
	spec := types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: KeyMetadata, Value: ""},
	}}
	return waitFor(ctx)(object.NewVirtualMachine(c.vim, vm.Self).Reconfigure(ctx, spec))
}
