package vsphere

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"gopkg.in/yaml.v3"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

// identity is which cluster and node a VM is, as far as it says.
type identity struct {
	Cluster   string // the cluster's name
	BundleID  string // guestinfo.kiln.cluster.id; empty on VMs cloned before IDs
	CACert    string // the cluster's CA certificate hash
	Node      string
	FromMarks bool // read from kiln's marks, not from the metadata
}

// identityOf reads a VM's identity from kiln's marks or, for a VM cloned
// by another tool (govc, Terraform), from its metadata while that is still
// in its configuration. ok is false when the VM says neither.
func identityOf(extra map[string]string) (id identity, ok bool) {
	if extra[KeyNode] != "" && (extra[KeyClusterCA] != "" || extra[KeyClusterID] != "") {
		return identity{Cluster: extra[KeyCluster], BundleID: extra[KeyClusterID], CACert: extra[KeyClusterCA], Node: extra[KeyNode], FromMarks: true}, true
	}
	v := strings.TrimSpace(extra[KeyMetadata])
	if v == "" {
		return identity{}, false
	}
	enc, err := config.ParseEncoding(extra[KeyEncoding])
	if err != nil {
		return identity{}, false
	}
	doc, err := config.Decode(v, enc)
	if err != nil {
		return identity{}, false
	}
	// Only the identifying fields, leniently: this VM is not kiln's to
	// validate, only to recognise.
	var nc struct {
		Cluster struct {
			Name    string `yaml:"name"`
			Secrets struct {
				CACertHash string `yaml:"caCertHash"`
			} `yaml:"secrets"`
		} `yaml:"cluster"`
		Node struct {
			Name string `yaml:"name"`
		} `yaml:"node"`
	}
	if yaml.Unmarshal(doc, &nc) != nil || nc.Node.Name == "" || nc.Cluster.Secrets.CACertHash == "" {
		return identity{}, false
	}
	return identity{Cluster: nc.Cluster.Name, CACert: nc.Cluster.Secrets.CACertHash, Node: nc.Node.Name}, true
}

// of says whether the identity is of the bundle s: its ID or its CA. Either
// is enough: a bundle copied and renamed still has the same CA, and so
// would be the same cluster a second time.
func (id identity) of(s *cluster.Spec) bool {
	return id.BundleID != "" && id.BundleID == s.BundleID() || id.CACert != "" && id.CACert == s.CACertHash
}

func (id identity) String() string {
	what := "node " + id.Node + " of cluster " + id.Cluster
	if id.BundleID != "" {
		what += " (bundle " + id.BundleID + ")"
	} else if id.CACert != "" {
		what += " (CA " + id.CACert + ")"
	}
	return what
}

// ownedBy says whether a VM is the bundle's node by kiln's marks: the node
// and the cluster's bundle ID or CA. Only such a VM is kiln's to change.
func ownedBy(v *vmInfo, s *cluster.Spec, node string) bool {
	id, ok := identityOf(v.extra)
	return ok && id.FromMarks && id.Node == node && id.of(s) && !v.template()
}

// isNode says whether a VM is the bundle's node by its marks or, for one
// cloned by another tool, by its metadata.
func isNode(v *vmInfo, s *cluster.Spec, node string) bool {
	id, ok := identityOf(v.extra)
	return ok && id.Node == node && id.of(s) && !v.template()
}

// clusterVMs finds every VM of the datacenter that is a node of the bundle
// s, under whatever name and in whatever folder, by its identity (marks or
// metadata); templates aside. The result maps node names to their VMs.
// The whole datacenter is searched, not only the settings' folder: a
// cluster's nodes are its nodes wherever someone moved them.
func (c *Client) clusterVMs(ctx context.Context, s *cluster.Spec) (map[string][]*vmInfo, error) {
	fs, err := c.dc.Folders(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the folders of %s: %w", c.dc.InventoryPath, err)
	}
	m := view.NewManager(c.vim)
	v, err := m.CreateContainerView(ctx, fs.VmFolder.Reference(), []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, fmt.Errorf("listing VMs: %w", err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var all []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config.template", "config.extraConfig", "runtime.powerState"}, &all); err != nil {
		return nil, fmt.Errorf("listing VMs: %w", err)
	}
	out := map[string][]*vmInfo{}
	for _, m := range all {
		vm := newVMInfo(m)
		if vm.template() {
			continue
		}
		if id, ok := identityOf(vm.extra); ok && id.of(s) {
			out[id.Node] = append(out[id.Node], vm)
		}
	}
	for _, vms := range out {
		slices.SortFunc(vms, func(a, b *vmInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	return out, nil
}

// DuplicateNodeError is a node that exists already under another VM name
// (another --prefix, a rename) or in another folder: cloning it again
// would start a second copy of the node, with its addresses and the
// cluster's CAs.
type DuplicateNodeError struct {
	Node, Cluster, BundleID string
	// VMs are the names the node exists under.
	VMs []string
}

func (e *DuplicateNodeError) Error() string {
	return fmt.Sprintf("node %s of cluster %s (bundle %s) already exists as VM %s; kiln will not clone a second copy of a node of the same bundle (a separate cluster needs its own bundle: kiln cluster new)",
		e.Node, e.Cluster, e.BundleID, strings.Join(e.VMs, ", "))
}

// ForeignVMError is a VM that has a node's name but is not that node.
type ForeignVMError struct {
	VM, Node, Cluster string
	// Is says what the VM is, as far as it tells.
	Is string
}

func (e *ForeignVMError) Error() string {
	return fmt.Sprintf("a VM named %s exists and is not node %s of cluster %s (it is %s); kiln leaves it alone and changes nothing", e.VM, e.Node, e.Cluster, e.is())
}

func (e *ForeignVMError) is() string {
	if e.Is == "" {
		return "not a VM kiln cloned"
	}
	return e.Is
}

// foreign1 describes a VM in the way of a node.
func foreign1(v *vmInfo, s *cluster.Spec, node string) *ForeignVMError {
	e := &ForeignVMError{VM: v.Name, Node: node, Cluster: s.Name}
	id, ok := identityOf(v.extra)
	switch {
	case v.template():
		e.Is = "a template"
	case ok && id.of(s):
		e.Is = "node " + id.Node + " of this cluster"
		if !id.FromMarks {
			e.Is += ", cloned by another tool"
		}
	case ok:
		e.Is = id.String()
	}
	return e
}
