package vsphere

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"

	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
)

func TestUpload(t *testing.T) {
	sim := vspheretest.Start(t)
	c, _ := connect(t, sim)
	ctx := context.Background()
	dir := t.TempDir()
	a := openOVA(t, vspheretest.WriteOVA(t, dir, "kiln-node", 1))

	var steps []string
	var last, total int64
	res, err := c.Upload(ctx, a, UploadOptions{Name: "tmpl", Snapshot: true,
		Step:     func(s string) { steps = append(steps, s) },
		Progress: func(d, n int64) { last, total = d, n }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != Imported || res.SHA256 != a.SHA256 || res.Snapshot != SnapshotName {
		t.Errorf("result %+v", res)
	}
	if total == 0 || last != total || total != a.Files[2].Size {
		t.Errorf("progress ended at %d of %d, want the vmdk's %d bytes", last, total, a.Files[2].Size)
	}
	if !strings.Contains(strings.Join(steps, "\n"), "importing kiln-node.ova as "+importName("tmpl", a.SHA256)) {
		t.Errorf("steps %q", steps)
	}
	vm := sim.VM(t, "tmpl")
	if !vm.Config.Template {
		t.Error("tmpl is not a template")
	}
	if vm.Snapshot == nil || len(vm.Snapshot.RootSnapshotList) != 1 || vm.Snapshot.RootSnapshotList[0].Name != SnapshotName {
		t.Errorf("snapshots %+v", vm.Snapshot)
	}
	extra := extraOf(t, sim, "tmpl")
	if extra[KeyImageSHA256] != a.SHA256 {
		t.Errorf("%s = %q, want %s", KeyImageSHA256, extra[KeyImageSHA256], a.SHA256)
	}
	// The OVF's own settings made it through (firmware, disk.EnableUUID).
	if vm.Config.Firmware != "efi" || extra["disk.EnableUUID"] != "TRUE" || vm.Config.Hardware.NumCPU != 2 {
		t.Errorf("firmware %q, disk.EnableUUID %q, cpus %d", vm.Config.Firmware, extra["disk.EnableUUID"], vm.Config.Hardware.NumCPU)
	}
	if len(sim.VMs(t, importName("tmpl", a.SHA256))) != 0 {
		t.Error("the temporary import VM is left")
	}

	// The same OVA again: nothing to do.
	res, err = c.Upload(ctx, a, UploadOptions{Name: "tmpl", Snapshot: true})
	if err != nil || res.Action != Unchanged || res.Snapshot != SnapshotName {
		t.Fatalf("re-upload: %+v, %v", res, err)
	}
	if n := len(sim.VMs(t, "tmpl")); n != 1 {
		t.Errorf("%d VMs named tmpl after re-upload", n)
	}

	// Another OVA under the same name: refused, then replaced.
	b := openOVA(t, vspheretest.WriteOVA(t, dir, "kiln-node-2", 2))
	_, err = c.Upload(ctx, b, UploadOptions{Name: "tmpl"})
	if !errors.Is(err, ErrTemplateExists) || !strings.Contains(err.Error(), "use --replace") {
		t.Fatalf("different OVA without replace: %v", err)
	}
	if extraOf(t, sim, "tmpl")[KeyImageSHA256] != a.SHA256 {
		t.Error("the refused upload changed the template")
	}
	res, err = c.Upload(ctx, b, UploadOptions{Name: "tmpl", Replace: true})
	if err != nil || res.Action != Replaced || res.ReplacedSHA256 != a.SHA256 || len(res.Warnings) != 0 {
		t.Fatalf("replace: %+v, %v", res, err)
	}
	vm = sim.VM(t, "tmpl")
	if !vm.Config.Template || vm.Snapshot != nil || extraOf(t, sim, "tmpl")[KeyImageSHA256] != b.SHA256 {
		t.Errorf("replaced template: template %v snapshot %v", vm.Config.Template, vm.Snapshot)
	}
	for _, n := range []string{importName("tmpl", a.SHA256), importName("tmpl", b.SHA256), "tmpl-kiln-old"} {
		if len(sim.VMs(t, n)) != 0 {
			t.Errorf("%s is left after the replace", n)
		}
	}

	// Asking for the snapshot later adds it to the same template.
	res, err = c.Upload(ctx, b, UploadOptions{Name: "tmpl", Snapshot: true})
	if err != nil || res.Action != Unchanged || res.Snapshot != SnapshotName {
		t.Fatalf("snapshot later: %+v, %v", res, err)
	}
	vm = sim.VM(t, "tmpl")
	if !vm.Config.Template || vm.Snapshot == nil || vm.Snapshot.RootSnapshotList[0].Name != SnapshotName {
		t.Errorf("after adding the snapshot: template %v snapshot %+v", vm.Config.Template, vm.Snapshot)
	}
}

func TestUploadRefusesForeignVM(t *testing.T) {
	sim := vspheretest.Start(t)
	c, _ := connect(t, sim)
	a := openOVA(t, vspheretest.WriteOVA(t, t.TempDir(), "kiln-node", 1))
	sim.CreateVM(t, "theirs")
	for _, name := range []string{"theirs", "mine"} {
		if name == "mine" {
			sim.CreateVM(t, importName("mine", a.SHA256))
		}
		_, err := c.Upload(context.Background(), a, UploadOptions{Name: name, Replace: true})
		if err == nil || !strings.Contains(err.Error(), "kiln did not upload it") {
			t.Errorf("upload onto %s: %v", name, err)
		}
	}
	if len(sim.VMs(t, "mine")) != 0 || len(sim.VMs(t, "theirs")) != 1 || len(sim.VMs(t, importName("mine", a.SHA256))) != 1 {
		t.Error("a refused upload changed the inventory")
	}
}

func TestUploadMissingPlacement(t *testing.T) {
	sim := vspheretest.Start(t)
	a := openOVA(t, vspheretest.WriteOVA(t, t.TempDir(), "kiln-node", 1))
	for _, tc := range []struct {
		edit func(*Settings)
		want string
	}{
		{func(s *Settings) { s.Datastore = "NoSuchDS" }, `datastore "NoSuchDS" (GOVC_DATASTORE): not found`},
		{func(s *Settings) { s.Network = "No Such Net" }, `network "No Such Net" (GOVC_NETWORK): not found`},
		{func(s *Settings) { s.ResourcePool = "nope/Resources" }, `resource pool "nope/Resources" (GOVC_RESOURCE_POOL): not found`},
		{func(s *Settings) { s.Folder = "nofolder" }, `folder "nofolder" (GOVC_FOLDER): not found`},
		{func(s *Settings) { s.ResourcePool = "" }, `resource pool (GOVC_RESOURCE_POOL unset): there is more than one; say which`},
	} {
		c, _ := connect(t, sim, tc.edit)
		_, err := c.Upload(context.Background(), a, UploadOptions{Name: "tmpl"})
		var se *SettingError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	for _, n := range []string{"tmpl", importName("tmpl", a.SHA256)} {
		if len(sim.VMs(t, n)) != 0 {
			t.Errorf("%s exists after failed uploads", n)
		}
	}
}

// TestUploadFailureCleansUp makes vCenter refuse to mark the import a
// template: the half-made VM is removed and the name stays free.
func TestUploadFailureCleansUp(t *testing.T) {
	sim := vspheretest.Start(t)
	c, _ := connect(t, sim)
	a := openOVA(t, vspheretest.WriteOVA(t, t.TempDir(), "kiln-node", 1))
	sim.Service.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "MarkAsTemplate", ObjectType: "*", ObjectName: "*", Probability: 1, MaxCount: 1, Enabled: true,
		FaultType: simulator.FaultTypeInvalidState, Message: "injected: cannot mark as template",
	})
	_, err := c.Upload(context.Background(), a, UploadOptions{Name: "tmpl", Snapshot: true})
	if err == nil || !strings.Contains(err.Error(), "marking "+importName("tmpl", a.SHA256)+" as a template") || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("upload with a failing MarkAsTemplate: %v", err)
	}
	for _, n := range []string{"tmpl", importName("tmpl", a.SHA256)} {
		if len(sim.VMs(t, n)) != 0 {
			t.Errorf("%s is left after a failed upload", n)
		}
	}
	// And the next run succeeds.
	if _, err := c.Upload(context.Background(), a, UploadOptions{Name: "tmpl"}); err != nil {
		t.Fatal(err)
	}
}

// TestUploadRemovesLeftovers: an interrupted run left the import VM
// (kiln's, by its mark); the next run removes it and uploads.
func TestUploadRemovesLeftovers(t *testing.T) {
	sim := vspheretest.Start(t)
	c, _ := connect(t, sim)
	ctx := context.Background()
	a := openOVA(t, vspheretest.WriteOVA(t, t.TempDir(), "kiln-node", 1))
	p, err := c.place(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	tmp := importName("tmpl", a.SHA256)
	if _, err := c.importOVA(ctx, p, a, tmp, nil); err != nil {
		t.Fatal(err)
	}
	var steps []string
	res, err := c.Upload(ctx, a, UploadOptions{Name: "tmpl", Step: func(s string) { steps = append(steps, s) }})
	if err != nil || res.Action != Imported {
		t.Fatalf("upload over a leftover: %+v %v", res, err)
	}
	if !strings.Contains(strings.Join(steps, "\n"), "removing "+tmp+", left by an interrupted upload") {
		t.Errorf("steps %q", steps)
	}
	if len(sim.VMs(t, tmp)) != 0 || !sim.VM(t, "tmpl").Config.Template {
		t.Error("leftover still there, or no template")
	}
}
