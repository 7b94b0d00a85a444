// Package vspheretest is the test kit of kiln's vSphere code: a govmomi
// vCenter simulator (the VPX model: datacenter DC0, cluster DC0_C0, one
// datastore LocalDS_0, the "VM Network" port group) served over HTTPS in
// process, and small OVAs written by kiln's own ova package.
//
//	sim := vspheretest.Start(t)
//	ova := vspheretest.WriteOVA(t, t.TempDir(), "kiln-node", 1)
//	c, err := vsphere.Connect(ctx, sim.Settings)
package vspheretest

import (
	"context"
	"crypto/tls"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
	"github.com/kiln-build/kiln/builder/format/ova"
)

// Placement names in the simulator's VPX model.
const (
	Datacenter   = "DC0"
	Datastore    = "LocalDS_0"
	Network      = "VM Network"
	ResourcePool = "DC0_C0/Resources"
	// The simulator's credentials; the password is one a test can look
	// for in output that must not show it.
	Username = "kiln-admin@vsphere.local"
	Password = "pw-Sekr1t-never-printed"
)

// Sim is a running simulator.
type Sim struct {
	// URL is the SDK endpoint without credentials; Username and Password
	// log in to it.
	URL      string
	Username string
	Password string
	// Service is the simulator itself (fault injection rules go there).
	Service *simulator.Service
	// Client is a logged-in client for the test's own checks.
	Client *vim25.Client
}

// Start runs a VPX simulator until the test ends.
func Start(tb testing.TB) *Sim {
	tb.Helper()
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(model.Remove)
	// Real credentials, so that a wrong password is refused.
	model.Service.Listen = &url.URL{User: url.UserPassword(Username, Password)}
	// HTTPS with a self-signed certificate, as vCenter out of the box:
	// clients need Insecure (GOVC_INSECURE).
	model.Service.TLS = new(tls.Config)
	srv := model.Service.NewServer()
	tb.Cleanup(srv.Close)

	u := *srv.URL
	user := u.User.Username()
	pass, _ := u.User.Password()
	u.User = nil
	ctx := context.Background()
	sc := soap.NewClient(&u, true)
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := session.NewManager(c).Login(ctx, url.UserPassword(user, pass)); err != nil {
		tb.Fatal(err)
	}
	return &Sim{URL: u.String(), Username: user, Password: pass, Service: model.Service, Client: c}
}

// WriteOVA writes a small OVA (a 16 MiB disk with about 2 MiB of data,
// contents set by seed) named NAME.ova under dir, with kiln's ova encoder.
func WriteOVA(tb testing.TB, dir, name string, seed uint64) string {
	tb.Helper()
	work := filepath.Join(dir, "ova-"+name+"-work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(work)
	d := formattest.Disk{Size: 16 << 20, Data: 2 << 20, Seed: seed}
	raw := formattest.WriteDisk(tb, work, d)
	f, err := os.Open(raw)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(dir, name+".ova")
	enc := ova.Encoder{
		VM: ova.VM{Name: name, CPUs: 2, MemoryMiB: 2048, HardwareVersion: 19, GuestOS: "centos9_64Guest",
			Firmware: "efi", Network: "VM Network"},
		ModTime: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		TempDir: work,
	}
	if err := format.WriteFile(context.Background(), out, enc, f, d.Size); err != nil {
		tb.Fatal(err)
	}
	return out
}

// VM reads the named VM's properties (config, runtime, snapshot, guest),
// failing the test when there is not exactly one.
func (s *Sim) VM(tb testing.TB, name string) mo.VirtualMachine {
	tb.Helper()
	vms := s.VMs(tb, name)
	if len(vms) != 1 {
		tb.Fatalf("%d VMs named %q, want 1", len(vms), name)
	}
	return vms[0]
}

// VMs lists every VM with that name.
func (s *Sim) VMs(tb testing.TB, name string) []mo.VirtualMachine {
	tb.Helper()
	ctx := context.Background()
	f := find.NewFinder(s.Client)
	dc, err := f.Datacenter(ctx, Datacenter)
	if err != nil {
		tb.Fatal(err)
	}
	f.SetDatacenter(dc)
	list, err := f.VirtualMachineList(ctx, "*")
	if err != nil {
		if _, ok := err.(*find.NotFoundError); ok {
			return nil
		}
		tb.Fatal(err)
	}
	var out []mo.VirtualMachine
	for _, vm := range list {
		if vm.Name() != name {
			continue
		}
		var m mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"name", "config", "runtime", "snapshot", "guest", "parent"}, &m); err != nil {
			tb.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// Reconfigure sets extraConfig values on the named VM, as the guest's
// info-set would on real vSphere (guestinfo.kiln.status) or as the
// simulator takes a guest IP ("SET.guest.ipAddress").
func (s *Sim) Reconfigure(tb testing.TB, name string, extra map[string]string) {
	tb.Helper()
	ctx := context.Background()
	m := s.VM(tb, name)
	vm := object.NewVirtualMachine(s.Client, m.Self)
	var spec types.VirtualMachineConfigSpec
	for k, v := range extra {
		spec.ExtraConfig = append(spec.ExtraConfig, &types.OptionValue{Key: k, Value: v})
	}
	task, err := vm.Reconfigure(ctx, spec)
	if err != nil {
		tb.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		tb.Fatal(err)
	}
}

// CreateVM makes a plain VM (not kiln's) named name in DC0's VM folder.
func (s *Sim) CreateVM(tb testing.TB, name string) {
	tb.Helper()
	ctx := context.Background()
	f := find.NewFinder(s.Client)
	dc, err := f.Datacenter(ctx, Datacenter)
	if err != nil {
		tb.Fatal(err)
	}
	f.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := f.ResourcePool(ctx, ResourcePool)
	if err != nil {
		tb.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{Name: name, GuestId: "otherLinux64Guest",
		Files: &types.VirtualMachineFileInfo{VmPathName: "[" + Datastore + "]"}}
	task, err := folders.VmFolder.CreateVM(ctx, spec, pool, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		tb.Fatal(err)
	}
}

// Rename renames the named VM, as someone might in the vSphere client.
func (s *Sim) Rename(tb testing.TB, name, to string) {
	tb.Helper()
	ctx := context.Background()
	vm := object.NewVirtualMachine(s.Client, s.VM(tb, name).Self)
	task, err := vm.Rename(ctx, to)
	if err != nil {
		tb.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		tb.Fatal(err)
	}
}

// CreateFolder makes a VM folder named name in DC0's VM folder and moves
// the named VMs into it.
func (s *Sim) CreateFolder(tb testing.TB, name string, vms ...string) {
	tb.Helper()
	ctx := context.Background()
	f := find.NewFinder(s.Client)
	dc, err := f.Datacenter(ctx, Datacenter)
	if err != nil {
		tb.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	folder, err := folders.VmFolder.CreateFolder(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	var refs []types.ManagedObjectReference
	for _, vm := range vms {
		refs = append(refs, s.VM(tb, vm).Self)
	}
	if len(refs) == 0 {
		return
	}
	task, err := folder.MoveInto(ctx, refs)
	if err != nil {
		tb.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		tb.Fatal(err)
	}
}
