package vsphere

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
	"github.com/kiln-build/kiln/firstboot/config"
)

var seed struct {
	once sync.Once
	b    *cluster.Bundle
	err  error
}

// newBundle returns a copy of one bundle made per test binary (key
// generation is slow): three control planes and two workers.
func newBundle(t *testing.T) *cluster.Bundle {
	t.Helper()
	seed.once.Do(func() {
		seed.b, seed.err = cluster.New(cluster.Options{
			Name: "prod", KubernetesVersion: "v1.34.2", VIP: "10.31.100.100",
			ControlPlanes: []config.Peer{{Name: "m1", Address: "10.31.100.61"}, {Name: "m2", Address: "10.31.100.62"}, {Name: "m3", Address: "10.31.100.63"}},
			Workers:       []config.Peer{{Name: "w1", Address: "10.31.100.101"}, {Name: "w2", Address: "10.31.100.102"}},
			NodeNetwork:   cluster.NodeNetwork{PrefixLength: 24, Gateway: "10.31.100.1"},
		})
	})
	if seed.err != nil {
		t.Fatal(seed.err)
	}
	b := *seed.b
	return &b
}

var allNodes = []string{"m1", "m2", "m3", "w1", "w2"}

// withTemplate starts a simulator with template "tmpl" uploaded (with its
// snapshot when snapshot is set).
func withTemplate(t *testing.T, snapshot bool) (*vspheretest.Sim, *Client, *recorder) {
	t.Helper()
	sim := vspheretest.Start(t)
	c, rec := connect(t, sim)
	a := openOVA(t, vspheretest.WriteOVA(t, t.TempDir(), "kiln-node", 1))
	if _, err := c.Upload(context.Background(), a, UploadOptions{Name: "tmpl", Snapshot: snapshot}); err != nil {
		t.Fatal(err)
	}
	return sim, c, rec
}

// checkNode decodes a VM's guestinfo back into a NodeConfig.
func checkNode(t *testing.T, sim *vspheretest.Sim, vm, node string, role config.Role) {
	t.Helper()
	extra := extraOf(t, sim, vm)
	if extra[KeyEncoding] != "gzip+base64" || extra[KeyNode] != node || extra[KeyCluster] != "prod" || !strings.HasPrefix(extra[KeyClusterCA], "sha256:") || len(extra[KeyClusterID]) != 32 {
		t.Errorf("%s: marks %q %q %q %q %q", vm, extra[KeyEncoding], extra[KeyNode], extra[KeyCluster], extra[KeyClusterCA], extra[KeyClusterID])
	}
	doc, err := config.Decode(extra[KeyMetadata], config.EncodingGzipBase64)
	if err != nil {
		t.Fatalf("%s: decoding %s: %v", vm, KeyMetadata, err)
	}
	nc, err := config.Parse(doc)
	if err != nil {
		t.Fatalf("%s: the metadata is not a valid NodeConfig: %v", vm, err)
	}
	var peers []string
	for _, p := range nc.Cluster.ControlPlane.Peers {
		peers = append(peers, p.Name+"="+p.Address)
	}
	if nc.Node.Name != node || nc.Node.Role != role || strings.Join(peers, ",") != "m1=10.31.100.61,m2=10.31.100.62,m3=10.31.100.63" {
		t.Errorf("%s: node %s role %s peers %v", vm, nc.Node.Name, nc.Node.Role, peers)
	}
	if hasKey := nc.Cluster.Secrets.KubernetesCA.Key != ""; hasKey != (role == config.RoleControlPlane) {
		t.Errorf("%s: CA key present %v for a %s", vm, hasKey, role)
	}
}

func actions(rs []NodeResult) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Node+":"+string(r.Action))
	}
	return strings.Join(out, " ")
}

func TestCloneFull(t *testing.T) {
	sim, c, rec := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	var mu sync.Mutex
	var events []string
	res, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", CPUs: 4, MemoryMiB: 6144, DiskGiB: 1, PowerOn: true,
		Report: func(r NodeResult) { mu.Lock(); events = append(events, r.Node+":"+string(r.Action)); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res); got != "m1:created m2:created m3:created w1:created w2:created" {
		t.Errorf("results %s", got)
	}
	for _, n := range allNodes {
		for _, want := range []string{n + ":cloning", n + ":created", n + ":powered-on"} {
			if !strings.Contains(strings.Join(events, " "), want) {
				t.Errorf("no %s event in %v", want, events)
			}
		}
	}
	for _, n := range allNodes {
		role := config.RoleControlPlane
		if n[0] == 'w' {
			role = config.RoleWorker
		}
		checkNode(t, sim, n, n, role)
		vm := sim.VM(t, n)
		if vm.Config.Hardware.NumCPU != 4 || vm.Config.Hardware.MemoryMB != 6144 || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			t.Errorf("%s: cpus %d memory %d power %s", n, vm.Config.Hardware.NumCPU, vm.Config.Hardware.MemoryMB, vm.Runtime.PowerState)
		}
		var disk int64
		for _, d := range vm.Config.Hardware.Device {
			if d, ok := d.(*types.VirtualDisk); ok {
				disk = d.CapacityInBytes
			}
		}
		if disk != 1<<30 {
			t.Errorf("%s: disk %d bytes, want 1 GiB", n, disk)
		}
		spec := rec.clones[n]
		if spec.Snapshot != nil || spec.Location.DiskMoveType != "moveAllDiskBackingsAndDisallowSharing" || spec.PowerOn || spec.Template {
			t.Errorf("%s: full clone spec %+v", n, spec.Location)
		}
		if spec.Location.Datastore == nil || spec.Location.Pool == nil || spec.Location.Folder == nil {
			t.Errorf("%s: placement not from the settings: %+v", n, spec.Location)
		}
	}

	// Again: every VM exists and is left alone; nothing is duplicated.
	clear(rec.clones)
	res, err = c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res); got != "m1:exists m2:exists m3:exists w1:exists w2:exists" || len(rec.clones) != 0 {
		t.Errorf("second run: %s, %d clone calls", got, len(rec.clones))
	}
	for _, n := range allNodes {
		if len(sim.VMs(t, n)) != 1 {
			t.Errorf("%d VMs named %s", len(sim.VMs(t, n)), n)
		}
	}

	// Scale out: only the new node is created.
	if err := b.AddNode(config.RoleWorker, "w4", "10.31.100.104"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res); got != "m1:exists m2:exists m3:exists w1:exists w2:exists w4:created" || len(rec.clones) != 1 {
		t.Errorf("scale-out: %s, %d clone calls", got, len(rec.clones))
	}
	checkNode(t, sim, "w4", "w4", config.RoleWorker)
}

func TestCloneLinked(t *testing.T) {
	sim, c, rec := withTemplate(t, true)
	ctx := context.Background()
	b := newBundle(t)
	tmpl := sim.VM(t, "tmpl")

	// A linked clone cannot grow the disk: refused before anything is made.
	_, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", Linked: true, DiskGiB: 1})
	if err == nil || !strings.Contains(err.Error(), "make full clones (without --linked) to grow the disk") || len(rec.clones) != 0 {
		t.Fatalf("linked with a bigger disk: %v (%d clones)", err, len(rec.clones))
	}
	res, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", Linked: true, Prefix: "prod-", Nodes: []string{"w2", "m1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res); got != "m1:created w2:created" {
		t.Errorf("results %s", got)
	}
	for _, n := range []string{"m1", "w2"} {
		spec := rec.clones["prod-"+n]
		if spec.Snapshot == nil || *spec.Snapshot != *tmpl.Snapshot.CurrentSnapshot || spec.Location.DiskMoveType != "createNewChildDiskBacking" {
			t.Errorf("%s: linked clone spec snapshot %v move %q", n, spec.Snapshot, spec.Location.DiskMoveType)
		}
		if vm := sim.VM(t, "prod-"+n); vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			t.Errorf("%s powered on without PowerOn", n)
		}
	}
	checkNode(t, sim, "prod-w2", "w2", config.RoleWorker)
	if len(sim.VMs(t, "m2")) != 0 || len(sim.VMs(t, "prod-m2")) != 0 {
		t.Error("a node not asked for was cloned")
	}
}

func TestCloneRefusals(t *testing.T) {
	sim, c, rec := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	sim.CreateVM(t, "m2")
	for _, tc := range []struct {
		name string
		c    *Client
		opts CloneOptions
		want string
	}{
		{"collision", c, CloneOptions{Template: "tmpl"}, "a VM named m2 exists and is not node m2 of cluster prod (it is not a VM kiln cloned); kiln leaves it alone and changes nothing"},
		{"no snapshot", c, CloneOptions{Template: "tmpl", Linked: true, Prefix: "x-"}, "template tmpl: has no snapshot for linked clones"},
		{"no template", c, CloneOptions{Template: "nope", Prefix: "x-"}, "template nope: not found"},
		{"not a template", c, CloneOptions{Template: "m2", Prefix: "x-"}, "m2 is a VM, not a template"},
		{"bad cpus", c, CloneOptions{Template: "tmpl", Prefix: "x-", CPUs: -1}, "cpus -1"},
		{"unknown node", c, CloneOptions{Template: "tmpl", Nodes: []string{"w9"}}, `node "w9" is not in cluster prod`},
		{"bad memory", c, CloneOptions{Template: "tmpl", MemoryMiB: 1001}, "memory 1001 MiB: want a multiple of 4"},
		{"bad name", c, CloneOptions{Template: "tmpl", Prefix: "a/"}, `node m1: VM name "a/m1"`},
		{"no datastore", connectWith(t, sim, func(s *Settings) { s.Datastore = "NoSuchDS" }), CloneOptions{Template: "tmpl", Prefix: "x-"}, `datastore "NoSuchDS" (GOVC_DATASTORE): not found`},
		{"no network", connectWith(t, sim, func(s *Settings) { s.Network = "No Such Net" }), CloneOptions{Template: "tmpl", Prefix: "x-"}, `network "No Such Net" (GOVC_NETWORK): not found`},
	} {
		_, err := tc.c.Clone(ctx, b, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	var fe *ForeignVMError
	if _, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl"}); !errors.As(err, &fe) || fe.VM != "m2" {
		t.Errorf("collision: %v", err)
	} else if msg := err.Error(); strings.Contains(msg, "prefix") || strings.Contains(msg, "rename") || strings.Contains(msg, "remove") {
		// Following such a hint once started a second copy of a running
		// cluster (issue 14): the error says what is there, and no more.
		t.Errorf("collision: the error suggests an action: %v", err)
	}
	if len(rec.clones) != 0 {
		t.Errorf("clones were started: %v", rec.clones)
	}
	for _, n := range allNodes {
		if len(sim.VMs(t, n)) > 0 && n != "m2" || len(sim.VMs(t, "x-"+n)) > 0 {
			t.Errorf("%s was created by a refused clone", n)
		}
	}
}

// TestCloneRecognisesNodesUnderAnyName: a node is known by the bundle's
// ID or CA in its VM's marks (or, for a VM another tool cloned, in its
// metadata), not by the VM's name, so neither another --prefix, a rename,
// nor a renamed copy of the bundle clones a node a second time; a new
// bundle (new ID and CAs) is another cluster and may be cloned beside it.
func TestCloneRecognisesNodesUnderAnyName(t *testing.T) {
	sim, c, rec := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	if _, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", Prefix: "a-", PowerOn: true}); err != nil {
		t.Fatal(err)
	}
	clear(rec.clones)
	noClones := func(what string) {
		t.Helper()
		if len(rec.clones) != 0 {
			t.Errorf("%s: clones were started: %v", what, rec.clones)
		}
		clear(rec.clones)
	}

	// The whole cluster again under another prefix: every node is refused.
	_, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", Prefix: "b-", PowerOn: true})
	var de *DuplicateNodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "node m1 of cluster prod (bundle "+b.Spec.ID+") already exists as VM a-m1; kiln will not clone a second copy") {
		t.Fatalf("second copy under another prefix: %v", err)
	}
	for _, n := range allNodes {
		if !strings.Contains(err.Error(), "already exists as VM a-"+n) {
			t.Errorf("second copy: %s is not named: %v", n, err)
		}
	}
	noClones("another prefix")

	// A node renamed by hand is still that node.
	sim.Rename(t, "a-w1", "renamed-w1")
	_, err = c.Clone(ctx, b, CloneOptions{Template: "tmpl", Prefix: "a-"})
	if err == nil || !strings.Contains(err.Error(), "node w1 of cluster prod (bundle "+b.Spec.ID+") already exists as VM renamed-w1") {
		t.Errorf("renamed node: %v", err)
	}
	noClones("renamed node")

	// The same names in another folder are still the same nodes.
	sim.CreateFolder(t, "elsewhere", "tmpl")
	other := connectWith(t, sim, func(s *Settings) { s.Folder = "elsewhere" })
	_, err = other.Clone(ctx, b, CloneOptions{Template: "tmpl", Prefix: "a-", Nodes: []string{"m1"}})
	if err == nil || !strings.Contains(err.Error(), "already exists as VM a-m1 (outside the folder kiln clones into)") {
		t.Errorf("another folder: %v", err)
	}
	noClones("another folder")

	// A copy of the bundle with another name and ID has the same CAs: the
	// same cluster.
	copied := *b
	copied.Spec.Name, copied.Spec.ID = "prod2", strings.Repeat("ab", 16)
	_, err = c.Clone(ctx, &copied, CloneOptions{Template: "tmpl", Prefix: "c-", Nodes: []string{"m2"}})
	if err == nil || !strings.Contains(err.Error(), "node m2 of cluster prod2 (bundle abab") || !strings.Contains(err.Error(), "already exists as VM a-m2") {
		t.Errorf("copied bundle: %v", err)
	}
	noClones("copied bundle")

	// A node another tool cloned, metadata and all, without kiln's marks.
	b2 := newOtherBundle(t)
	extra, err := NodeExtraConfig(b2, "w2", cluster.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sim.CreateVM(t, "by-govc")
	sim.Reconfigure(t, "by-govc", map[string]string{KeyMetadata: extra[KeyMetadata], KeyEncoding: extra[KeyEncoding]})
	_, err = c.Clone(ctx, b2, CloneOptions{Template: "tmpl", Prefix: "b2-", Nodes: []string{"w2"}})
	if err == nil || !strings.Contains(err.Error(), "node w2 of cluster prod (bundle "+b2.Spec.ID+") already exists as VM by-govc") {
		t.Errorf("node cloned by another tool: %v", err)
	}
	noClones("node cloned by another tool")

	// A new bundle is another cluster: its nodes are cloned.
	res, err := c.Clone(ctx, b2, CloneOptions{Template: "tmpl", Prefix: "b2-", Nodes: []string{"m1", "w1"}})
	if err != nil || actions(res) != "m1:created w1:created" {
		t.Fatalf("new bundle: %s %v", actions(res), err)
	}
	if got := extraOf(t, sim, "b2-m1")[KeyClusterID]; got != b2.Spec.ID {
		t.Errorf("b2-m1 carries bundle ID %q, want %q", got, b2.Spec.ID)
	}
	// And the first cluster's node in the way of the new one's is not it.
	_, err = c.Clone(ctx, b2, CloneOptions{Template: "tmpl", Prefix: "a-", Nodes: []string{"m3"}})
	if err == nil || !strings.Contains(err.Error(), "a VM named a-m3 exists and is not node m3 of cluster prod (it is node m3 of cluster prod (bundle "+b.Spec.ID+"))") {
		t.Errorf("another bundle's node in the way: %v", err)
	}
}

var seed2 struct {
	once sync.Once
	b    *cluster.Bundle
	err  error
}

// newOtherBundle is a second bundle with newBundle's options: the same
// names and addresses, new ID and CAs.
func newOtherBundle(t *testing.T) *cluster.Bundle {
	t.Helper()
	first := newBundle(t)
	seed2.once.Do(func() {
		s := first.Spec
		seed2.b, seed2.err = cluster.New(cluster.Options{
			Name: s.Name, KubernetesVersion: s.KubernetesVersion, VIP: s.ControlPlaneEndpoint.VIP,
			ControlPlanes: s.ControlPlanes, Workers: s.Workers, NodeNetwork: s.NodeNetwork,
		})
	})
	if seed2.err != nil {
		t.Fatal(seed2.err)
	}
	b := *seed2.b
	return &b
}

func connectWith(t *testing.T, sim *vspheretest.Sim, edit func(*Settings)) *Client {
	c, _ := connect(t, sim, edit)
	return c
}

// TestCloneTaskFails: the clone of one node fails (an injected fault on
// the call, then a task that fails in vSphere because another VM took the
// name meanwhile); the others are created and powered on, the failure is
// reported, and the foreign VM is not removed. A re-run finishes the job.
func TestCloneTaskFails(t *testing.T) {
	sim, c, _ := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	sim.Service.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "CloneVM_Task", ObjectType: "*", ObjectName: "*", Probability: 1, MaxCount: 1, Enabled: true,
		FaultType: simulator.FaultTypeInsufficientResourcesFault, Message: "injected: out of resources",
	})
	res, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true, Parallel: 1})
	if err == nil || !strings.Contains(err.Error(), "injected: out of resources") {
		t.Fatalf("clone with an injected fault: %v", err)
	}
	failed := ""
	for _, r := range res {
		switch {
		case r.Action == Failed && failed == "":
			failed = r.Node
			if !strings.Contains(err.Error(), r.Node+": ") || len(sim.VMs(t, r.Node)) != 0 {
				t.Errorf("%s failed, but the error does not say so or its VM exists: %v", r.Node, err)
			}
		case r.Action != Created || sim.VM(t, r.Node).Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn:
			t.Errorf("%s: %s, want created and powered on", r.Node, r.Action)
		}
	}
	if failed == "" {
		t.Fatalf("no node failed: %s", actions(res))
	}

	// The task itself fails: another VM takes the name while kiln clones.
	res, err = c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true, Report: func(r NodeResult) {
		if r.Node == failed && r.Action == Cloning {
			sim.CreateVM(t, failed)
		}
	}})
	if err == nil || !strings.Contains(err.Error(), failed+": DuplicateName") {
		t.Fatalf("clone onto a name taken meanwhile: %v", err)
	}
	for _, r := range res {
		if want := map[bool]NodeAction{true: Failed, false: Exists}[r.Node == failed]; r.Action != want {
			t.Errorf("%s: %s, want %s", r.Node, r.Action, want)
		}
	}
	if vms := sim.VMs(t, failed); len(vms) != 1 || extraOf(t, sim, failed)[KeyNode] != "" {
		t.Errorf("the other VM named %s was touched: %d VMs", failed, len(vms))
	}
}

func TestMetadataLimit(t *testing.T) {
	b := newBundle(t)
	nc, err := b.NodeConfig("w1")
	if err != nil {
		t.Fatal(err)
	}
	v, err := encodeMetadata(nc, MaxGuestinfoValue)
	if err != nil || len(v) > MaxGuestinfoValue {
		t.Fatalf("%d bytes, %v", len(v), err)
	}
	_, err = encodeMetadata(nc, len(v)-1)
	if err == nil || !strings.Contains(err.Error(), "guestinfo limit") {
		t.Errorf("over the limit: %v", err)
	}
	extra, err := NodeExtraConfig(b, "m1", cluster.NodeOptions{})
	if err != nil || extra[KeyNode] != "m1" || extra[KeyEncoding] != "gzip+base64" {
		t.Errorf("NodeExtraConfig: %v %v", extra[KeyNode], err)
	}
}
