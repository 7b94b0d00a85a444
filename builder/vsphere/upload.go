package vsphere

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/vim25/progress"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/vsphere/ovafile"
)

// SnapshotName is the snapshot Upload takes for linked clones.
const SnapshotName = "kiln-base"

// oldSuffix makes the name a template being replaced has until the new
// one is in place.
const oldSuffix = "-kiln-old"

// importName is the name Upload imports under before the template gets its
// own: NAME-kiln-SHA12. It names the datastore folder of the template's
// files (vSphere keeps the folder when a VM is renamed), so it differs per
// OVA, and one left by an interrupted run of the same OVA is removed by
// the next.
func importName(name, sum string) string { return name + "-kiln-" + short(sum) }

// UploadOptions say how to upload.
type UploadOptions struct {
	// Name is the template's name.
	Name string
	// Snapshot takes the snapshot linked clones start from.
	Snapshot bool
	// Replace lets a different OVA take the place of an existing template
	// kiln uploaded.
	Replace bool
	// Progress, when set, hears how many of the disk bytes are up; it is
	// called from the uploading goroutine.
	Progress func(done, total int64)
	// Step, when set, hears each step as it starts ("importing", ...).
	Step func(step string)
}

// UploadAction is what Upload did.
type UploadAction string

// The upload actions.
const (
	Imported  UploadAction = "imported"
	Unchanged UploadAction = "unchanged"
	Replaced  UploadAction = "replaced"
)

// UploadResult says what Upload did.
type UploadResult struct {
	Name     string       `json:"name"`
	SHA256   string       `json:"sha256"`
	Action   UploadAction `json:"action"`
	Snapshot string       `json:"snapshot,omitempty"`
	// ReplacedSHA256 is the replaced template's OVA digest.
	ReplacedSHA256 string `json:"replacedSHA256,omitempty"`
	// Warnings say what Upload could not tidy up after it succeeded.
	Warnings []string `json:"warnings,omitempty"`
}

// ErrTemplateExists is wrapped when the name is taken by a template
// uploaded from another OVA and Replace is not set.
var ErrTemplateExists = errors.New("a template of another OVA has that name")

// Upload imports a checked OVA as a template named opts.Name: it creates
// the VM from the OVF (its network mapped to Settings.Network), uploads
// the disks over an NFC lease kept alive with progress reports, records
// the OVA's SHA-256 in the VM's extraConfig (KeyImageSHA256), takes the
// snapshot when asked, and marks it a template.
//
// It works under a temporary name and renames at the end, so the name
// only ever holds a finished template; whatever fails on the way is
// removed. A template of the same OVA is left as it is (Unchanged),
// except that a missing snapshot is added when asked. A template of
// another OVA is refused (ErrTemplateExists) unless opts.Replace; a VM
// kiln did not upload is never touched.
func (c *Client) Upload(ctx context.Context, a *ovafile.Archive, opts UploadOptions) (*UploadResult, error) {
	step := opts.Step
	if step == nil {
		step = func(string) {}
	}
	if err := checkVMName(opts.Name); err != nil {
		return nil, err
	}
	res := &UploadResult{Name: opts.Name, SHA256: a.SHA256}
	tmpName, oldName := importName(opts.Name, a.SHA256), opts.Name+oldSuffix
	found, err := c.findVMs(ctx, opts.Name, tmpName, oldName)
	if err != nil {
		return nil, err
	}
	existing, err := single(opts.Name, found[opts.Name])
	if err != nil {
		return nil, err
	}
	if existing != nil {
		sum, ours := existing.extra[KeyImageSHA256]
		switch {
		case !ours:
			return nil, fmt.Errorf("a VM named %s exists and kiln did not upload it; choose another --name", opts.Name)
		case sum == a.SHA256 && existing.template():
			res.Action = Unchanged
			if existing.Snapshot != nil {
				res.Snapshot = snapshotName(existing)
			}
			if opts.Snapshot && existing.Snapshot == nil {
				step("taking snapshot " + SnapshotName)
				if err := c.snapshotTemplate(ctx, existing); err != nil {
					return nil, fmt.Errorf("adding the snapshot to template %s: %w", opts.Name, err)
				}
				res.Snapshot = SnapshotName
			}
			return res, nil
		case !opts.Replace && !existing.template():
			return nil, fmt.Errorf("%s is a VM, not a template (an upload interrupted at the end, or a clone powered on?); use --replace to upload it again", opts.Name)
		case !opts.Replace:
			return nil, fmt.Errorf("template %s holds OVA sha256 %s, not %s: %w (use --replace)", opts.Name, short(sum), short(a.SHA256), ErrTemplateExists)
		}
		if existing.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return nil, fmt.Errorf("%s is %s; kiln replaces only a template or a powered-off VM", opts.Name, existing.Runtime.PowerState)
		}
		res.ReplacedSHA256 = sum
	}
	// Leftovers of an interrupted run go first; anything else under those
	// names is not ours to remove.
	for _, n := range []string{tmpName, oldName} {
		left, err := single(n, found[n])
		if err != nil {
			return nil, err
		}
		if left == nil {
			continue
		}
		if _, ours := left.extra[KeyImageSHA256]; !ours {
			return nil, fmt.Errorf("a VM named %s exists and kiln did not upload it; kiln needs that name while it uploads %s", n, opts.Name)
		}
		step("removing " + n + ", left by an interrupted upload")
		if err := c.destroy(ctx, left.Self); err != nil {
			return nil, fmt.Errorf("removing %s, left by an interrupted upload: %w", n, err)
		}
	}

	p, err := c.place(ctx, true)
	if err != nil {
		return nil, err
	}
	step("importing " + filepath.Base(a.Path) + " as " + tmpName)
	vm, err := c.importOVA(ctx, p, a, tmpName, opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", filepath.Base(a.Path), err)
	}
	// From here on a failure removes the new VM.
	fail := func(err error) (*UploadResult, error) {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if derr := c.destroy(cctx, vm.Reference()); derr != nil {
			return nil, fmt.Errorf("%w; and removing the unfinished %s failed (remove it by hand): %v", err, tmpName, derr)
		}
		return nil, err
	}
	if opts.Snapshot {
		step("taking snapshot " + SnapshotName)
		if err := waitFor(ctx)(vm.CreateSnapshot(ctx, SnapshotName, "kiln: the base of linked clones", false, false)); err != nil {
			return fail(fmt.Errorf("taking snapshot %s: %w", SnapshotName, err))
		}
		res.Snapshot = SnapshotName
	}
	step("marking " + tmpName + " as a template")
	if err := vm.MarkAsTemplate(ctx); err != nil {
		return fail(fmt.Errorf("marking %s as a template: %w", tmpName, taskError(err)))
	}

	res.Action = Imported
	if existing != nil {
		res.Action = Replaced
		step("renaming the old template to " + oldName)
		old := existing.object(c)
		if err := waitFor(ctx)(old.Rename(ctx, oldName)); err != nil {
			return fail(fmt.Errorf("renaming the old template %s to %s: %w", opts.Name, oldName, err))
		}
		if err := waitFor(ctx)(vm.Rename(ctx, opts.Name)); err != nil {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			if rerr := waitFor(cctx)(old.Rename(cctx, opts.Name)); rerr != nil {
				return fail(fmt.Errorf("renaming %s to %s: %w; and renaming the old template back failed: it is %s now: %v", tmpName, opts.Name, err, oldName, rerr))
			}
			return fail(fmt.Errorf("renaming %s to %s: %w", tmpName, opts.Name, err))
		}
		step("removing the old template")
		if err := c.destroy(ctx, existing.Self); err != nil {
			// Linked clones of the old template share its disks; vCenter may
			// refuse. The new template is in place either way.
			res.Warnings = append(res.Warnings, fmt.Sprintf("the old template is left as %s: %v", oldName, err))
		}
		return res, nil
	}
	step("renaming " + tmpName + " to " + opts.Name)
	if err := waitFor(ctx)(vm.Rename(ctx, opts.Name)); err != nil {
		return fail(fmt.Errorf("renaming %s to %s: %w", tmpName, opts.Name, err))
	}
	return res, nil
}

// cleanupContext outlives a cancelled ctx (Ctrl-C), so that cleanup still
// runs, for at most two minutes.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func snapshotName(v *vmInfo) string {
	if v.Snapshot == nil || len(v.Snapshot.RootSnapshotList) == 0 {
		return ""
	}
	// The current snapshot is what a linked clone starts from.
	var find func([]types.VirtualMachineSnapshotTree) string
	find = func(ts []types.VirtualMachineSnapshotTree) string {
		for _, t := range ts {
			if v.Snapshot.CurrentSnapshot != nil && t.Snapshot == *v.Snapshot.CurrentSnapshot {
				return t.Name
			}
			if n := find(t.ChildSnapshotList); n != "" {
				return n
			}
		}
		return ""
	}
	if n := find(v.Snapshot.RootSnapshotList); n != "" {
		return n
	}
	return v.Snapshot.RootSnapshotList[0].Name
}

// snapshotTemplate adds the linked-clone snapshot to an existing template:
// vSphere snapshots VMs, not templates, so the template briefly turns back
// into a (powered-off) VM.
func (c *Client) snapshotTemplate(ctx context.Context, t *vmInfo) error {
	vm := t.object(c)
	p, err := c.place(ctx, false)
	if err != nil {
		return err
	}
	var host *object.HostSystem
	if t.Runtime.Host != nil {
		host = object.NewHostSystem(c.vim, *t.Runtime.Host)
	}
	if err := vm.MarkAsVirtualMachine(ctx, *p.pool, host); err != nil {
		return fmt.Errorf("turning the template into a VM: %w", taskError(err))
	}
	serr := waitFor(ctx)(vm.CreateSnapshot(ctx, SnapshotName, "kiln: the base of linked clones", false, false))
	if err := vm.MarkAsTemplate(ctx); err != nil {
		return fmt.Errorf("marking it a template again: %w", taskError(err))
	}
	return serr
}

// importOVA creates the VM and uploads its files; on failure the lease is
// aborted and the VM removed.
func (c *Client) importOVA(ctx context.Context, p *placement, a *ovafile.Archive, name string, report func(done, total int64)) (*object.VirtualMachine, error) {
	env, err := ovf.Unmarshal(bytes.NewReader(a.OVF))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", a.Descriptor, err)
	}
	if env.VirtualSystem == nil {
		return nil, fmt.Errorf("%s describes no single virtual system (a vApp is not supported)", a.Descriptor)
	}
	cisp := types.OvfCreateImportSpecParams{
		EntityName:       name,
		DiskProvisioning: string(types.OvfCreateImportSpecParamsDiskProvisioningTypeThin),
	}
	if env.Network != nil {
		for _, n := range env.Network.Networks {
			cisp.NetworkMapping = append(cisp.NetworkMapping, types.OvfNetworkMapping{Name: n.Name, Network: p.network.Reference()})
		}
	}
	spec, err := ovf.NewManager(c.vim).CreateImportSpec(ctx, string(a.OVF), p.pool, p.ds, &cisp)
	if err != nil {
		return nil, fmt.Errorf("creating the import spec: %w", err)
	}
	if len(spec.Error) > 0 {
		var errs []error
		for _, e := range spec.Error {
			errs = append(errs, errors.New(e.LocalizedMessage))
		}
		return nil, fmt.Errorf("vCenter refuses the OVF: %w", errors.Join(errs...))
	}
	vmSpec, ok := spec.ImportSpec.(*types.VirtualMachineImportSpec)
	if !ok {
		return nil, fmt.Errorf("%s imports as a vApp, not a VM; kiln uploads single-VM OVAs", a.Descriptor)
	}
	cs := &vmSpec.ConfigSpec
	// vCenter applies the OVF's vmw:Config (firmware) and vmw:ExtraConfig;
	// some import paths (and the simulator) leave them out of the spec, so
	// fill in what is missing from the descriptor itself.
	if fromOVF, err := env.ToConfigSpec(); err == nil {
		if cs.Firmware == "" {
			cs.Firmware = fromOVF.Firmware
		}
		cs.ExtraConfig = mergeExtra(cs.ExtraConfig, fromOVF.ExtraConfig)
	}
	cs.ExtraConfig = mergeExtra(cs.ExtraConfig, []types.BaseOptionValue{&types.OptionValue{Key: KeyImageSHA256, Value: a.SHA256}})
	cs.Annotation = fmt.Sprintf("kiln image %s\nsha256 %s", filepath.Base(a.Path), a.SHA256)

	lease, err := p.pool.ImportVApp(ctx, vmSpec, p.folder, nil)
	if err != nil {
		return nil, fmt.Errorf("starting the import: %w", err)
	}
	info, err := lease.Wait(ctx, spec.FileItem)
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = lease.Abort(cctx, nil)
		return nil, fmt.Errorf("waiting for the import lease: %w", taskError(err))
	}
	vm := object.NewVirtualMachine(c.vim, info.Entity)
	if err := c.uploadItems(ctx, lease, info, a, report); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = lease.Abort(cctx, &types.LocalizedMethodFault{Fault: &types.RuntimeFault{}, LocalizedMessage: err.Error()})
		// vCenter deletes the VM of an aborted import; make sure.
		if derr := c.destroyIfThere(cctx, info.Entity); derr != nil {
			return nil, fmt.Errorf("%w; and removing the unfinished %s failed (remove it by hand): %v", err, name, derr)
		}
		return nil, err
	}
	if err := lease.Complete(ctx); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = c.destroyIfThere(cctx, info.Entity)
		return nil, fmt.Errorf("completing the import: %w", err)
	}
	return vm, nil
}

// destroyIfThere removes a VM unless it is already gone.
func (c *Client) destroyIfThere(ctx context.Context, ref types.ManagedObjectReference) error {
	err := c.destroy(ctx, ref)
	if err != nil && isNotFound(err) {
		return nil
	}
	return err
}

func isNotFound(err error) bool {
	var fe *FaultError
	if errors.As(err, &fe) {
		_, ok := fe.Fault.(*types.ManagedObjectNotFound)
		return ok
	}
	if soap.IsSoapFault(err) {
		_, ok := soap.ToSoapFault(err).VimFault().(types.ManagedObjectNotFound)
		return ok
	}
	return false
}

// mergeExtra adds the entries of more whose keys base lacks, or replaces
// them.
func mergeExtra(base, more []types.BaseOptionValue) []types.BaseOptionValue {
	idx := map[string]int{}
	out := append([]types.BaseOptionValue(nil), base...)
	for i, o := range out {
		idx[o.GetOptionValue().Key] = i
	}
	for _, o := range more {
		k := o.GetOptionValue().Key
		if i, ok := idx[k]; ok {
			out[i] = o
			continue
		}
		idx[k] = len(out)
		out = append(out, o)
	}
	return out
}

// leaseInterval is how often the lease hears of progress; vCenter drops a
// lease that is silent for its timeout (5 minutes by default).
const leaseInterval = 5 * time.Second

// uploadItems sends every file the lease asks for, reporting progress to
// the lease (which keeps it alive) and to report.
func (c *Client) uploadItems(ctx context.Context, lease *nfc.Lease, info *nfc.LeaseInfo, a *ovafile.Archive, report func(done, total int64)) error {
	var total int64
	for _, it := range info.Items {
		total += it.Size
	}
	var done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(leaseInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				pct := int32(0)
				if total > 0 {
					pct = int32(min(99, 100*done.Load()/total))
				}
				// A failed progress call is not fatal: the upload itself
				// fails if the lease is gone.
				_ = lease.Progress(ctx, pct)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	for _, it := range info.Items {
		r, size, err := a.OpenFile(it.Path)
		if err != nil {
			return err
		}
		base := done.Load()
		cr := &countingReader{r: r, add: func(n int64) {
			v := done.Add(n)
			if report != nil {
				report(v, total)
			}
		}}
		err = lease.Upload(ctx, it, cr, soap.Upload{ContentLength: size, Progress: drain{}})
		r.Close()
		if err != nil {
			return fmt.Errorf("uploading %s: %w", it.Path, err)
		}
		done.Store(base + size)
	}
	if report != nil {
		report(total, total)
	}
	return nil
}

type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

// drain takes govmomi's progress reports and drops them; kiln counts bytes
// itself. (Without a sink, lease.Upload reports to a channel nobody reads.)
type drain struct{}

func (drain) Sink() chan<- progress.Report {
	ch := make(chan progress.Report)
	go func() {
		for range ch {
		}
	}()
	return ch
}
