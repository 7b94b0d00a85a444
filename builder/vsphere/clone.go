package vsphere

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

// MaxGuestinfoValue is the most kiln puts in one guestinfo value: the VMX
// and the guest RPC channel are not made for larger ones (64 KiB).
const MaxGuestinfoValue = 64 << 10

var vmNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,61}$`)

// checkVMName keeps names to what needs no escaping in vSphere's inventory
// paths and leaves room for Upload's temporary suffixes.
func checkVMName(name string) error {
	if !vmNameRE.MatchString(name) {
		return fmt.Errorf("VM name %q: want 1 to 62 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// NodeExtraConfig is the extraConfig a VM needs to boot as the named node
// of the bundle: the node's NodeConfig (YAML, gzip+base64) under
// KeyMetadata, its encoding under KeyEncoding, and kiln's own marks
// (KeyCluster, KeyClusterID, KeyClusterCA, KeyNode), which are not secret.
// It is what `kiln vsphere clone` sets, and what to set when cloning with
// other tools. opts says how long a worker's join credential is valid
// (cluster.NodeOptions).
func NodeExtraConfig(b *cluster.Bundle, node string, opts cluster.NodeOptions) (map[string]string, error) {
	nc, err := b.NodeConfigWith(node, opts)
	if err != nil {
		return nil, err
	}
	v, err := encodeMetadata(nc, MaxGuestinfoValue)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return map[string]string{
		KeyMetadata:  v,
		KeyEncoding:  string(config.EncodingGzipBase64),
		KeyCluster:   b.Spec.Name,
		KeyClusterID: b.Spec.BundleID(),
		KeyClusterCA: b.Spec.CACertHash,
		KeyNode:      node,
	}, nil
}

func encodeMetadata(nc *config.NodeConfig, limit int) (string, error) {
	doc, err := config.MarshalYAML(nc)
	if err != nil {
		return "", err
	}
	v, err := config.Encode(doc, config.EncodingGzipBase64)
	if err != nil {
		return "", err
	}
	if len(v) > limit {
		return "", fmt.Errorf("metadata is %d bytes as gzip+base64, over the %d-byte guestinfo limit (%d bytes of YAML; a large ignition config or hosts list?)", len(v), limit, len(doc))
	}
	return v, nil
}

// CloneOptions say which nodes to clone and how.
type CloneOptions struct {
	// Template is the name of the template to clone.
	Template string
	// Nodes lists the nodes to create; empty means every node of the
	// bundle.
	Nodes []string
	// Prefix goes before each node's name to make its VM's name.
	Prefix string
	// Linked makes linked clones: a child disk over the template's
	// snapshot instead of a copy of its disk. The template needs the
	// snapshot (upload --snapshot), and the disk cannot grow.
	Linked bool
	// CPUs, MemoryMiB and DiskGiB override the template's; 0 keeps it.
	CPUs      int
	MemoryMiB int
	DiskGiB   int
	// PowerOn powers on the VMs this run created, once all are created.
	PowerOn bool
	// Parallel bounds the clone tasks running at once; 0 means 4.
	Parallel int
	// CredentialTTL is how long each worker's join credential is valid
	// from now; 0 means 24 hours. Clone the workers shortly before they
	// boot: a worker that boots later needs new metadata.
	CredentialTTL time.Duration
	// Report, when set, hears about each node as it goes; it may be called
	// from several goroutines at once, never for the same node.
	Report func(NodeResult)
}

// NodeAction is what happened to one node's VM.
type NodeAction string

// The node actions.
const (
	Cloning   NodeAction = "cloning" // reported when a clone starts
	Created   NodeAction = "created"
	Exists    NodeAction = "exists"
	PoweredOn NodeAction = "powered-on"
	Failed    NodeAction = "failed"
	Destroyed NodeAction = "destroyed"
	Absent    NodeAction = "absent"
)

// NodeResult is what Clone or Destroy did to one node.
type NodeResult struct {
	Node   string      `json:"node"`
	Role   config.Role `json:"role"`
	VM     string      `json:"vm"`
	Action NodeAction  `json:"action"`
	// PowerState is the VM's power state at the end.
	PowerState string `json:"powerState,omitempty"`
	Error      string `json:"error,omitempty"`
}

// VMName is the VM name of a node.
func VMName(prefix, node string) string { return prefix + node }

// selectNodes picks the bundle's nodes by name, in bundle order.
func selectNodes(s *cluster.Spec, names []string) ([]cluster.Node, error) {
	all := s.Nodes()
	if len(names) == 0 {
		return all, nil
	}
	var out []cluster.Node
	for _, n := range names {
		i := slices.IndexFunc(all, func(x cluster.Node) bool { return x.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("node %q is not in cluster %s", n, s.Name)
		}
		if !slices.ContainsFunc(out, func(x cluster.Node) bool { return x.Name == n }) {
			out = append(out, all[i])
		}
	}
	// Bundle order: control planes in bootstrap order, then workers.
	slices.SortFunc(out, func(x, y cluster.Node) int {
		return slices.IndexFunc(all, func(n cluster.Node) bool { return n.Name == x.Name }) -
			slices.IndexFunc(all, func(n cluster.Node) bool { return n.Name == y.Name })
	})
	return out, nil
}

// Clone creates the bundle's nodes (or opts.Nodes) as clones of the
// template, each named VMName(opts.Prefix, node), with its metadata in
// extraConfig (NodeExtraConfig), the settings' folder, resource pool and
// datastore (and network, when set), and opts' CPU, memory and disk
// overrides. A node whose VM already exists is left alone (Exists). A node
// that exists under another VM name or in another folder of the
// datacenter, found by the bundle ID or CA in its marks or metadata, stops
// the run before anything is created (DuplicateNodeError): a second copy
// of a node would share its addresses and the cluster's CAs. So does a VM
// with a node's name that is not that node (ForeignVMError), and any
// problem with the template, the settings or a node's metadata.
//
// All VMs are created before any is powered on, so the first control
// plane starts with its peers and a failed run leaves no part of the
// cluster booting half-configured; the VMs that were created are powered
// on even if another failed, and a re-run creates what is missing. A clone
// that fails is removed if vSphere left anything behind.
func (c *Client) Clone(ctx context.Context, b *cluster.Bundle, opts CloneOptions) ([]NodeResult, error) {
	report := opts.Report
	if report == nil {
		report = func(NodeResult) {}
	}
	nodes, err := selectNodes(&b.Spec, opts.Nodes)
	if err != nil {
		return nil, err
	}
	if opts.CPUs < 0 || opts.CPUs > 768 {
		return nil, fmt.Errorf("cpus %d: want 1 to 768", opts.CPUs)
	}
	if opts.MemoryMiB < 0 || opts.MemoryMiB%4 != 0 {
		return nil, fmt.Errorf("memory %d MiB: want a multiple of 4", opts.MemoryMiB)
	}
	if opts.DiskGiB < 0 {
		return nil, fmt.Errorf("disk size %d GiB: want a positive size", opts.DiskGiB)
	}
	// Everything that can be checked is checked before the first clone.
	extra := map[string]map[string]string{}
	names := []string{opts.Template}
	for _, n := range nodes {
		vmName := VMName(opts.Prefix, n.Name)
		if err := checkVMName(vmName); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		if extra[n.Name], err = NodeExtraConfig(b, n.Name, cluster.NodeOptions{CredentialTTL: opts.CredentialTTL}); err != nil {
			return nil, err
		}
		names = append(names, vmName)
	}
	found, err := c.findVMs(ctx, names...)
	if err != nil {
		return nil, err
	}
	known, err := c.clusterVMs(ctx, &b.Spec)
	if err != nil {
		return nil, err
	}
	tmpl, err := single(opts.Template, found[opts.Template])
	if err != nil {
		return nil, err
	}
	if tmpl == nil {
		return nil, fmt.Errorf("template %s: %w (upload it with kiln vsphere upload)", opts.Template, ErrNotFound)
	}
	if !tmpl.template() {
		return nil, fmt.Errorf("%s is a VM, not a template", opts.Template)
	}
	p, err := c.place(ctx, false)
	if err != nil {
		return nil, err
	}
	base, err := c.cloneBase(ctx, tmpl, p, opts)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", opts.Template, err)
	}

	var results []NodeResult
	var todo []int
	var foreign []error
	for _, n := range nodes {
		vmName := VMName(opts.Prefix, n.Name)
		r := NodeResult{Node: n.Name, Role: n.Role, VM: vmName}
		vm, err := single(vmName, found[vmName])
		var elsewhere []string
		for _, k := range known[n.Name] {
			switch {
			case vm != nil && k.Self == vm.Self:
			case k.Name == vmName:
				elsewhere = append(elsewhere, k.Name+" (outside the folder kiln clones into)")
			default:
				elsewhere = append(elsewhere, k.Name)
			}
		}
		switch {
		case err != nil:
			foreign = append(foreign, err)
		case len(elsewhere) > 0:
			foreign = append(foreign, &DuplicateNodeError{Node: n.Name, Cluster: b.Spec.Name, BundleID: b.Spec.BundleID(), VMs: elsewhere})
		case vm == nil:
			todo = append(todo, len(results))
		case !isNode(vm, &b.Spec, n.Name):
			foreign = append(foreign, foreign1(vm, &b.Spec, n.Name))
		default:
			r.Action, r.PowerState = Exists, string(vm.Runtime.PowerState)
		}
		results = append(results, r)
	}
	if len(foreign) > 0 {
		return nil, errors.Join(foreign...)
	}
	for _, r := range results {
		if r.Action == Exists {
			report(r)
		}
	}

	// Clone, a few at a time.
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	refs := make([]types.ManagedObjectReference, len(results))
	for _, i := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].Action, results[i].Error = Failed, ctx.Err().Error()
				report(results[i])
				return
			}
			defer func() { <-sem }()
			r := &results[i]
			report(NodeResult{Node: r.Node, Role: r.Role, VM: r.VM, Action: Cloning})
			ref, err := c.cloneOne(ctx, tmpl, p, base, r.VM, extra[r.Node])
			if err != nil {
				r.Action, r.Error = Failed, err.Error()
			} else {
				r.Action, r.PowerState, refs[i] = Created, string(types.VirtualMachinePowerStatePoweredOff), ref
			}
			report(*r)
		}()
	}
	wg.Wait()

	if opts.PowerOn {
		for _, i := range todo {
			r := &results[i]
			if r.Action != Created {
				continue
			}
			vm := object.NewVirtualMachine(c.vim, refs[i])
			if err := waitFor(ctx)(vm.PowerOn(ctx)); err != nil {
				r.Error = "created, but powering on failed: " + err.Error()
			} else {
				r.PowerState = string(types.VirtualMachinePowerStatePoweredOn)
				report(NodeResult{Node: r.Node, Role: r.Role, VM: r.VM, Action: PoweredOn, PowerState: r.PowerState})
			}
		}
	}
	var errs []string
	for _, r := range results {
		if r.Error != "" {
			errs = append(errs, r.Node+": "+r.Error)
		}
	}
	if len(errs) > 0 {
		return results, fmt.Errorf("cloning %s: %s", opts.Template, strings.Join(errs, "; "))
	}
	return results, nil
}

// cloneBase is the part of the clone spec every node shares.
func (c *Client) cloneBase(ctx context.Context, t *vmInfo, p *placement, opts CloneOptions) (types.VirtualMachineCloneSpec, error) {
	spec := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{
			Folder: types.NewReference(p.folder.Reference()),
			Pool:   types.NewReference(p.pool.Reference()),
			// A full clone copies every disk; a linked clone gets a child
			// disk over the template's snapshot.
			DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndDisallowSharing),
		},
		Config: &types.VirtualMachineConfigSpec{
			NumCPUs:  int32(opts.CPUs),
			MemoryMB: int64(opts.MemoryMiB),
		},
	}
	ds := p.ds.Reference()
	spec.Location.Datastore = &ds
	if opts.Linked {
		if t.Snapshot == nil || t.Snapshot.CurrentSnapshot == nil {
			return spec, errors.New("has no snapshot for linked clones (upload it with --snapshot, or clone without --linked)")
		}
		spec.Snapshot = t.Snapshot.CurrentSnapshot
		spec.Location.DiskMoveType = string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking)
	}
	var devices object.VirtualDeviceList
	if t.Config != nil {
		devices = t.Config.Hardware.Device
	}
	if opts.DiskGiB > 0 {
		disks := devices.SelectByType((*types.VirtualDisk)(nil))
		if len(disks) == 0 {
			return spec, errors.New("has no disk to size")
		}
		disk := *disks[0].(*types.VirtualDisk)
		want := int64(opts.DiskGiB) << 30
		have := disk.CapacityInBytes
		if have == 0 {
			have = disk.CapacityInKB << 10
		}
		switch {
		case want < have:
			return spec, fmt.Errorf("disk is %s; it cannot shrink to %d GiB", size(have), opts.DiskGiB)
		case want > have && opts.Linked:
			return spec, fmt.Errorf("a linked clone shares the template's %s disk and cannot grow it to %d GiB; make full clones (without --linked) to grow the disk", size(have), opts.DiskGiB)
		case want > have:
			disk.CapacityInBytes, disk.CapacityInKB = want, want>>10
			spec.Config.DeviceChange = append(spec.Config.DeviceChange, &types.VirtualDeviceConfigSpec{
				Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: &disk,
			})
		}
	}
	if p.network != nil {
		nics := devices.SelectByType((*types.VirtualEthernetCard)(nil))
		if len(nics) == 0 {
			return spec, errors.New("has no network adapter to connect to the network")
		}
		backing, err := p.network.EthernetCardBackingInfo(ctx)
		if err != nil {
			return spec, fmt.Errorf("connecting its network adapter: %w", err)
		}
		nic := nics[0]
		nic.GetVirtualDevice().Backing = backing
		spec.Config.DeviceChange = append(spec.Config.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: nic,
		})
	}
	return spec, nil
}

func size(b int64) string {
	if b%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", b>>30)
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// nodeSpec is the shared spec with one node's extraConfig and annotation.
func nodeSpec(base types.VirtualMachineCloneSpec, vmName string, extra map[string]string) types.VirtualMachineCloneSpec {
	spec := base
	cfg := *base.Config
	cfg.ExtraConfig = nil
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cfg.ExtraConfig = append(cfg.ExtraConfig, &types.OptionValue{Key: k, Value: extra[k]})
	}
	// A status left by the template's own boots, if any, is not this node's.
	cfg.ExtraConfig = append(cfg.ExtraConfig, &types.OptionValue{Key: KeyStatus, Value: ""})
	cfg.Annotation = fmt.Sprintf("kiln node %s of cluster %s", extra[KeyNode], extra[KeyCluster])
	spec.Config = &cfg
	return spec
}

// cloneOne clones one VM and, when the task fails, removes whatever
// vSphere left under the name.
func (c *Client) cloneOne(ctx context.Context, t *vmInfo, p *placement, base types.VirtualMachineCloneSpec, vmName string, extra map[string]string) (types.ManagedObjectReference, error) {
	spec := nodeSpec(base, vmName, extra)
	task, err := t.object(c).Clone(ctx, p.folder, vmName, spec)
	if err != nil {
		return types.ManagedObjectReference{}, taskError(err)
	}
	info, err := task.WaitForResult(ctx)
	if err == nil {
		if ref, ok := info.Result.(types.ManagedObjectReference); ok {
			return ref, nil
		}
		err = errors.New("the clone task returned no VM")
	}
	err = taskError(err)
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	left, ferr := c.findVMs(cctx, vmName)
	if ferr != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("%w; and checking for a partial VM failed: %v", err, ferr)
	}
	for _, v := range left[vmName] {
		if v.extra[KeyNode] != extra[KeyNode] || v.extra[KeyClusterID] != extra[KeyClusterID] || v.extra[KeyClusterCA] != extra[KeyClusterCA] {
			continue
		}
		if derr := c.destroy(cctx, v.Self); derr != nil {
			return types.ManagedObjectReference{}, fmt.Errorf("%w; and removing the partial VM %s failed (remove it by hand): %v", err, vmName, derr)
		}
		return types.ManagedObjectReference{}, fmt.Errorf("%w (the partial VM was removed)", err)
	}
	return types.ManagedObjectReference{}, err
}
