package ova

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/format"
	"github.com/kiln-build/kiln/builder/format/formattest"
	"github.com/kiln-build/kiln/builder/format/vmdk"
)

var buildTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testVM() VM {
	return VM{
		Name:            "kiln-node",
		CPUs:            4,
		MemoryMiB:       8192,
		HardwareVersion: 19,
		GuestOS:         "centos9_64Guest",
		Firmware:        "efi",
		Network:         "VM Network",
		ExtraConfig: map[string]string{
			"guestinfo.kiln.metadata.encoding": "gzip+base64",
			"guestinfo.kiln.role":              `worker <&"'>`,
		},
	}
}

type entry struct {
	hdr  *tar.Header
	body []byte
}

func writeOVA(t *testing.T, dir string, disk formattest.Disk) (ova, raw string) {
	t.Helper()
	raw = formattest.WriteDisk(t, dir, disk)
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ova = filepath.Join(dir, "kiln-node.ova")
	enc := Encoder{VM: testVM(), ModTime: buildTime, TempDir: dir}
	if err := format.WriteFile(context.Background(), ova, enc, f, disk.Size); err != nil {
		t.Fatal(err)
	}
	return ova, raw
}

func readOVA(t *testing.T, path string) ([]entry, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h, body})
	}
	return out, b
}

func TestArchive(t *testing.T) {
	dir := t.TempDir()
	ovaPath, raw := writeOVA(t, dir, formattest.Disk{Size: 24 << 20, Data: 4 << 20, Seed: 2})
	ents, b := readOVA(t, ovaPath)
	var names []string
	for _, e := range ents {
		names = append(names, e.hdr.Name)
		if e.hdr.Format != tar.FormatUSTAR || e.hdr.Mode != 0o644 || e.hdr.Uid != 0 || e.hdr.Gid != 0 ||
			e.hdr.Uname != "" || !e.hdr.ModTime.Equal(buildTime) {
			t.Errorf("%s: header %+v", e.hdr.Name, e.hdr)
		}
	}
	if got, want := strings.Join(names, " "), "kiln-node.ovf kiln-node.mf kiln-node-disk1.vmdk"; got != want {
		t.Fatalf("entries %q, want %q", got, want)
	}
	if string(b[257:263]) != "ustar\x00" {
		t.Errorf("first header magic %q, want ustar", b[257:263])
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	wantMF := "SHA256(kiln-node.ovf)= " + sum(ents[0].body) + "\nSHA256(kiln-node-disk1.vmdk)= " + sum(ents[2].body) + "\n"
	if string(ents[1].body) != wantMF {
		t.Errorf("manifest:\n%s\nwant:\n%s", ents[1].body, wantMF)
	}

	// The OVF, read by govmomi's parser.
	env, err := ovf.Unmarshal(bytes.NewReader(ents[0].body))
	if err != nil {
		t.Fatalf("govmomi ovf.Unmarshal: %v", err)
	}
	if len(env.References) != 1 || env.References[0].Href != "kiln-node-disk1.vmdk" || env.References[0].Size != uint(len(ents[2].body)) {
		t.Errorf("references %+v", env.References)
	}
	d := env.Disk.Disks[0]
	if d.Capacity != "25165824" || d.Format == nil || *d.Format != "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" {
		t.Errorf("disk %+v", d)
	}
	vs := env.VirtualSystem
	if vs.ID != "kiln-node" || vs.OperatingSystem == nil || *vs.OperatingSystem.OSType != "centos9_64Guest" || vs.OperatingSystem.ID != 107 {
		t.Errorf("virtual system %+v os %+v", vs, vs.OperatingSystem)
	}
	cs, err := env.ToConfigSpec()
	if err != nil {
		t.Fatalf("govmomi ToConfigSpec: %v", err)
	}
	checkConfig(t, "ToConfigSpec", cs.NumCPUs, cs.MemoryMB, cs.Firmware, cs.Version, cs.GuestId, cs.ExtraConfig)

	// The disk inside is the raw disk.
	qemuImg := formattest.RequireTool(t, "qemu-img")
	vmdkPath := filepath.Join(dir, "extracted.vmdk")
	if err := os.WriteFile(vmdkPath, ents[2].body, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemuImg, "compare", "-f", "raw", "-F", "vmdk", raw, vmdkPath).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img compare: %v\n%s", err, out)
	}
	// No temp files are left behind.
	if left, _ := filepath.Glob(filepath.Join(dir, "kiln-ova-*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func checkConfig(t *testing.T, who string, cpus int32, mem int64, firmware, version, guest string, extra []types.BaseOptionValue) {
	t.Helper()
	if cpus != 4 || mem != 8192 || firmware != "efi" || version != "vmx-19" || guest != "centos9_64Guest" {
		t.Errorf("%s: cpus %d memory %d firmware %q version %q guest %q", who, cpus, mem, firmware, version, guest)
	}
	got := map[string]string{}
	for _, o := range extra {
		v := o.GetOptionValue()
		got[v.Key], _ = v.Value.(string)
	}
	for k, want := range map[string]string{
		"disk.EnableUUID":                  "TRUE",
		"guestinfo.kiln.role":              `worker <&"'>`,
		"guestinfo.kiln.metadata.encoding": "gzip+base64",
	} {
		if got[k] != want {
			t.Errorf("%s: extraConfig %s = %q, want %q", who, k, got[k], want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	a, _ := writeOVA(t, dir, formattest.Disk{Size: 8 << 20, Data: 2 << 20, Seed: 3})
	ab, _ := os.ReadFile(a)
	b, _ := writeOVA(t, dir, formattest.Disk{Size: 8 << 20, Data: 2 << 20, Seed: 3})
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Fatal("two encodes differ")
	}
}

func TestRejectsBadVM(t *testing.T) {
	for _, mut := range []func(*VM){
		func(v *VM) { v.Name = "" },
		func(v *VM) { v.Name = "a/b" },
		func(v *VM) { v.CPUs = 0 },
		func(v *VM) { v.MemoryMiB = 1001 },
		func(v *VM) { v.Firmware = "uefi" },
		func(v *VM) { v.GuestOS = "centos 9" },
		func(v *VM) { v.ExtraConfig = map[string]string{"a b": "c"} },
	} {
		vm := testVM()
		mut(&vm)
		err := Encoder{VM: vm}.Encode(context.Background(), io.Discard, bytes.NewReader(make([]byte, 512)), 512)
		if err == nil {
			t.Errorf("Encode with %+v returned nil", vm)
		}
	}
}

// TestSimulatorImport imports the OVA into govmomi's vCenter simulator the
// way govc import.ova does: CreateImportSpec, ImportVApp, upload over the
// NFC lease. The simulator's CreateImportSpec ignores vmw:Config and
// vmw:ExtraConfig, which real vCenter applies; like vCenter, the test takes
// them from the descriptor (govmomi's Envelope.ToConfigSpec) into the spec.
// The simulator discards the uploaded disk bytes.
func TestSimulatorImport(t *testing.T) {
	dir := t.TempDir()
	ovaPath, _ := writeOVA(t, dir, formattest.Disk{Size: 16 << 20, Data: 3 << 20, Seed: 4})
	simulator.Test(func(ctx context.Context, c *vim25.Client) {
		finder := find.NewFinder(c)
		dc, err := finder.DefaultDatacenter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		finder.SetDatacenter(dc)
		ds, err := finder.DefaultDatastore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := finder.ResourcePool(ctx, "DC0_C0/Resources")
		if err != nil {
			t.Fatal(err)
		}
		folders, err := dc.Folders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		imp := &importer.Importer{
			Client: c, Finder: finder, Datacenter: dc, Datastore: ds, ResourcePool: pool, Folder: folders.VmFolder,
			Archive: &importer.TapeArchive{Path: ovaPath},
			Log:     func(string) (int, error) { return 0, nil },
		}
		if err := imp.ReadManifest("*.ovf"); err != nil {
			t.Fatalf("reading manifest: %v", err)
		}
		if s := imp.Manifest["kiln-node-disk1.vmdk"]; s == nil || s.Algorithm != "SHA256" || len(s.Checksum) != 64 {
			t.Errorf("govmomi manifest entry for the vmdk: %+v", s)
		}
		desc, err := importer.ReadOvf("*.ovf", imp.Archive)
		if err != nil {
			t.Fatal(err)
		}
		env, err := importer.ReadEnvelope(desc)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := ovf.NewManager(c).CreateImportSpec(ctx, string(desc), pool, ds, &types.OvfCreateImportSpecParams{
			EntityName: "kiln-node",
			NetworkMapping: []types.OvfNetworkMapping{{
				Name: "VM Network", Network: mustNetwork(ctx, t, finder, "VM Network"),
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(spec.Error) > 0 {
			t.Fatalf("CreateImportSpec errors: %+v", spec.Error[0].LocalizedMessage)
		}
		vmSpec := spec.ImportSpec.(*types.VirtualMachineImportSpec)
		fromOVF, err := env.ToConfigSpec()
		if err != nil {
			t.Fatal(err)
		}
		vmSpec.ConfigSpec.Firmware = fromOVF.Firmware
		vmSpec.ConfigSpec.ExtraConfig = fromOVF.ExtraConfig

		lease, err := pool.ImportVApp(ctx, vmSpec, folders.VmFolder, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := lease.Wait(ctx, spec.FileItem)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Items) != 1 || info.Items[0].Path != "kiln-node-disk1.vmdk" {
			t.Fatalf("lease items %+v", info.Items)
		}
		for _, item := range info.Items {
			if err := imp.Upload(ctx, lease, item); err != nil {
				t.Fatalf("uploading %s: %v", item.Path, err)
			}
		}
		if err := lease.Complete(ctx); err != nil {
			t.Fatal(err)
		}

		var vm mo.VirtualMachine
		if err := object.NewVirtualMachine(c, info.Entity).Properties(ctx, info.Entity, []string{"config", "name"}, &vm); err != nil {
			t.Fatal(err)
		}
		cfg := vm.Config
		if vm.Name != "kiln-node" {
			t.Errorf("vm name %q", vm.Name)
		}
		checkConfig(t, "imported VM", cfg.Hardware.NumCPU, int64(cfg.Hardware.MemoryMB), cfg.Firmware, cfg.Version, cfg.GuestId, cfg.ExtraConfig)
		var nic, pvscsi, disk bool
		for _, d := range cfg.Hardware.Device {
			switch d := d.(type) {
			case *types.VirtualVmxnet3:
				nic = true
			case *types.ParaVirtualSCSIController:
				pvscsi = true
			case *types.VirtualDisk:
				disk = d.CapacityInBytes == 16<<20 || d.CapacityInKB == 16<<10
			}
		}
		if !nic || !pvscsi || !disk {
			t.Errorf("devices: vmxnet3 %v, pvscsi %v, 16 MiB disk %v", nic, pvscsi, disk)
		}
	})
}

func mustNetwork(ctx context.Context, t *testing.T, f *find.Finder, name string) types.ManagedObjectReference {
	n, err := f.Network(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return n.Reference()
}

// An OVA that packs a VMDK already encoded (as the build does, to compress
// the disk once) is the same bytes as one that encodes the disk itself; a
// VMDK whose extent has another name is refused, since the OVF names it.
func TestPackingAnEncodedVMDKGivesTheSameBytes(t *testing.T) {
	dir := t.TempDir()
	disk := formattest.Disk{Size: 8 << 20, Data: 2 << 20, Seed: 5}
	own, raw := writeOVA(t, dir, disk)
	want, _ := os.ReadFile(own)
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vm := testVM()
	img := filepath.Join(dir, "shared.vmdk")
	if err := format.WriteFile(context.Background(), img, vmdk.Encoder{FileName: vm.DiskFileName()}, f, disk.Size); err != nil {
		t.Fatal(err)
	}
	enc, vf, err := vmdk.OpenEncoded(img, vm.DiskFileName())
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	var got bytes.Buffer
	if err := (Encoder{VM: vm, ModTime: buildTime, VMDK: &enc}).Encode(context.Background(), &got, f, disk.Size); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Error("the OVA packing an encoded VMDK differs from the one encoding the disk")
	}
	enc.FileName = "other.vmdk"
	if err := (Encoder{VM: vm, ModTime: buildTime, VMDK: &enc}).Encode(context.Background(), io.Discard, f, disk.Size); err == nil || !strings.Contains(err.Error(), `names its extent "other.vmdk"`) {
		t.Errorf("packing a VMDK with another extent name: %v", err)
	}
}
