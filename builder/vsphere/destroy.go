package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/builder/cluster"
)

// DestroyOptions say which nodes' VMs to remove.
type DestroyOptions struct {
	Nodes  []string // empty: all
	Prefix string
	// Report, when set, hears about each node as it is done.
	Report func(NodeResult)
}

// Destroy powers off and deletes the VMs of the bundle's nodes (or
// opts.Nodes). A node without a VM is Absent. A VM with a node's name that
// kiln did not clone for this cluster stops the run before anything is
// deleted (ForeignVMError).
func (c *Client) Destroy(ctx context.Context, s *cluster.Spec, opts DestroyOptions) ([]NodeResult, error) {
	report := opts.Report
	if report == nil {
		report = func(NodeResult) {}
	}
	nodes, err := selectNodes(s, opts.Nodes)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes {
		names = append(names, VMName(opts.Prefix, n.Name))
	}
	found, err := c.findVMs(ctx, names...)
	if err != nil {
		return nil, err
	}
	var results []NodeResult
	var vms []*vmInfo
	var foreign []error
	for _, n := range nodes {
		r := NodeResult{Node: n.Name, Role: n.Role, VM: VMName(opts.Prefix, n.Name), Action: Absent}
		vm, err := single(r.VM, found[r.VM])
		switch {
		case err != nil:
			foreign = append(foreign, err)
		case vm == nil:
		case !ownedBy(vm, s, n.Name):
			foreign = append(foreign, foreign1(vm, s, n.Name))
		default:
			r.PowerState = string(vm.Runtime.PowerState)
		}
		results = append(results, r)
		vms = append(vms, vm)
	}
	if len(foreign) > 0 {
		return nil, errors.Join(foreign...)
	}
	var errs []string
	for i := range results {
		r := &results[i]
		if vms[i] == nil {
			report(*r)
			continue
		}
		if err := c.destroy(ctx, vms[i].Self); err != nil {
			r.Action, r.Error = Failed, err.Error()
			errs = append(errs, r.Node+": "+err.Error())
		} else {
			r.Action, r.PowerState = Destroyed, ""
		}
		report(*r)
	}
	if len(errs) > 0 {
		return results, fmt.Errorf("destroying: %s", strings.Join(errs, "; "))
	}
	return results, nil
}
