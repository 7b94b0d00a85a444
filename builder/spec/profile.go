package spec

import (
	"strings"

	"github.com/kiln-build/kiln/firstboot/document"
)

// APIVersion and Kind identify a kiln profile document.
const (
	APIVersion = "kiln/v1"
	Kind       = "Profile"
)

// Profile describes one image: where its packages come from, which ones,
// and how the image is customized and written. Paths in it are absolute
// once Load has returned (relative ones resolve against the file that set
// them).
type Profile struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	Name       string `yaml:"name" json:"name"`
	// Extends names a parent profile: a path relative to this file, or a
	// built-in profile's name. The parent's settings apply first.
	Extends     string `yaml:"extends,omitempty" json:"extends,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Deprecated, when set, is one line saying why the profile should no
	// longer be used and what to use instead (its operating system is past
	// its end of life, say). It passes to every profile that extends this
	// one, and kiln warns with it whenever such a profile is locked or built.
	Deprecated string `yaml:"deprecated,omitempty" json:"deprecated,omitempty"`
	Arch       string `yaml:"arch,omitempty" json:"arch,omitempty"`

	Repos           []Repo   `yaml:"repos,omitempty" json:"repos,omitempty"`
	Packages        []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	Exclude         []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	InstallWeakDeps *bool    `yaml:"installWeakDeps,omitempty" json:"installWeakDeps,omitempty"`

	Files         []File            `yaml:"files,omitempty" json:"files,omitempty"`
	Units         Units             `yaml:"units,omitempty" json:"units,omitempty"`
	Sysctl        map[string]string `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	KernelModules []string          `yaml:"kernelModules,omitempty" json:"kernelModules,omitempty"`
	SELinux       string            `yaml:"selinux,omitempty" json:"selinux,omitempty"`
	KernelCmdline []string          `yaml:"kernelCmdline,omitempty" json:"kernelCmdline,omitempty"`
	Users         []User            `yaml:"users,omitempty" json:"users,omitempty"`

	Boot    Boot     `yaml:"boot,omitempty" json:"boot,omitempty"`
	Disk    Disk     `yaml:"disk,omitempty" json:"disk,omitempty"`
	Outputs []Output `yaml:"outputs,omitempty" json:"outputs,omitempty"`
	OVA     OVA      `yaml:"ova,omitempty" json:"ova,omitempty"`
	Images  []Image  `yaml:"images,omitempty" json:"images,omitempty"`
	// Kubernetes, when set, makes kiln derive the images first boot runs
	// from the locked kubeadm, the load-balancer modes and the pod networks.
	Kubernetes *Kubernetes `yaml:"kubernetes,omitempty" json:"kubernetes,omitempty"`

	// source is the file this profile was read from ("" for built-ins
	// read from memory); chain lists it and its ancestors, child first.
	source string
	chain  []string
	// lines maps the field paths of the document read to their lines; nil
	// on a merged profile.
	lines document.Lines
}

// Repo is one yum repository, with dnf's option names.
type Repo struct {
	Name         string     `yaml:"name" json:"name"`
	BaseURL      StringList `yaml:"baseurl" json:"baseurl"`
	GPGKey       StringList `yaml:"gpgkey,omitempty" json:"gpgkey,omitempty"`
	GPGCheck     *bool      `yaml:"gpgcheck,omitempty" json:"gpgcheck,omitempty"`
	RepoGPGCheck *bool      `yaml:"repo_gpgcheck,omitempty" json:"repo_gpgcheck,omitempty"`
	Priority     int        `yaml:"priority,omitempty" json:"priority,omitempty"`
	Exclude      []string   `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// DefaultPriority is dnf's repository priority when none is set.
const DefaultPriority = 99

// GPGCheckEnabled reports whether packages must carry a valid signature.
// It defaults to true: an image builder should not trust unsigned input.
func (r Repo) GPGCheckEnabled() bool { return r.GPGCheck == nil || *r.GPGCheck }

// RepoGPGCheckEnabled reports whether repomd.xml must carry a valid
// detached signature. It defaults to false, as in dnf.
func (r Repo) RepoGPGCheckEnabled() bool { return r.RepoGPGCheck != nil && *r.RepoGPGCheck }

// EffectivePriority is the priority with dnf's default applied.
func (r Repo) EffectivePriority() int {
	if r.Priority == 0 {
		return DefaultPriority
	}
	return r.Priority
}

// File is a file written into the image. Exactly one of Content and
// Source is set; Source is a path on the build host.
type File struct {
	Path    string `yaml:"path" json:"path"`
	Content string `yaml:"content,omitempty" json:"content,omitempty"`
	Source  string `yaml:"source,omitempty" json:"source,omitempty"`
	Mode    string `yaml:"mode,omitempty" json:"mode,omitempty"` // octal, default 0644
	Owner   string `yaml:"owner,omitempty" json:"owner,omitempty"`
	Group   string `yaml:"group,omitempty" json:"group,omitempty"`
}

// Units are systemd units to enable, disable or mask in the image.
type Units struct {
	Enable  []string `yaml:"enable,omitempty" json:"enable,omitempty"`
	Disable []string `yaml:"disable,omitempty" json:"disable,omitempty"`
	Mask    []string `yaml:"mask,omitempty" json:"mask,omitempty"`
}

// User is an optional login account baked into the image.
type User struct {
	Name              string   `yaml:"name" json:"name"`
	Groups            []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	Shell             string   `yaml:"shell,omitempty" json:"shell,omitempty"`
	PasswordHash      string   `yaml:"passwordHash,omitempty" json:"passwordHash,omitempty"`
	SSHAuthorizedKeys []string `yaml:"sshAuthorizedKeys,omitempty" json:"sshAuthorizedKeys,omitempty"`
	Sudo              bool     `yaml:"sudo,omitempty" json:"sudo,omitempty"`
}

// Boot chooses the boot chain.
type Boot struct {
	// Firmware is the firmware the image boots on: "hybrid" (UEFI and
	// BIOS, the default), "uefi" or "bios".
	Firmware string `yaml:"firmware,omitempty" json:"firmware,omitempty"`
	// Initramfs is "kiln" (kiln's own small init, the default) or
	// "dracut" (the distribution's, run inside the image root).
	Initramfs  string `yaml:"initramfs,omitempty" json:"initramfs,omitempty"`
	SecureBoot bool   `yaml:"secureBoot,omitempty" json:"secureBoot,omitempty"`
}

// Disk sizes the image.
type Disk struct {
	Size Size `yaml:"size,omitempty" json:"size,omitempty"`
	// Compat "el7" writes a root filesystem CentOS 7's kernel and
	// e2fsprogs can check; the default suits EL8 and later.
	Compat string `yaml:"compat,omitempty" json:"compat,omitempty"`
}

// OVA is the virtual hardware recorded in the OVA's OVF descriptor.
type OVA struct {
	HardwareVersion int               `yaml:"hardwareVersion,omitempty" json:"hardwareVersion,omitempty"`
	CPUs            int               `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	MemoryMiB       int               `yaml:"memoryMiB,omitempty" json:"memoryMiB,omitempty"`
	GuestOS         string            `yaml:"guestOS,omitempty" json:"guestOS,omitempty"`
	Network         string            `yaml:"network,omitempty" json:"network,omitempty"`
	ExtraConfig     map[string]string `yaml:"extraConfig,omitempty" json:"extraConfig,omitempty"`
}

// Image is a container image preloaded into the image's containerd, pulled
// by reference or taken from a docker-save archive on the build host. The
// lock pins its digest.
type Image struct {
	Ref     string `yaml:"ref" json:"ref"`
	Archive string `yaml:"archive,omitempty" json:"archive,omitempty"`
}

// Kubernetes says which images first boot needs, so kiln derives them (kubeadm's for
// the locked kubeadm version, the load balancers', the pod networks') instead of a
// hand-copied list. Images overrides any derived reference by name (imageset names:
// haproxy, etcd, flannel, ...); the profile's images[] can give an archive for any
// reference. PullAllowed names what first boot may pull instead: exact references, or
// prefixes ending in "/".
type Kubernetes struct {
	LoadBalancers   []string          `yaml:"loadBalancers,omitempty" json:"loadBalancers,omitempty"`
	CNI             []string          `yaml:"cni,omitempty" json:"cni,omitempty"`
	ImageRepository string            `yaml:"imageRepository,omitempty" json:"imageRepository,omitempty"`
	Images          map[string]string `yaml:"images,omitempty" json:"images,omitempty"`
	PullAllowed     []string          `yaml:"pullAllowed,omitempty" json:"pullAllowed,omitempty"`
}

// PullAllows reports whether ref is one first boot may pull: it equals an entry of
// PullAllowed or starts with an entry that ends in "/".
func (k *Kubernetes) PullAllows(ref string) bool {
	if k == nil {
		return false
	}
	for _, a := range k.PullAllowed {
		if ref == a || strings.HasSuffix(a, "/") && strings.HasPrefix(ref, a) {
			return true
		}
	}
	return false
}

// Source returns the file the profile was loaded from, or "" for a profile
// decoded from memory.
func (p *Profile) Source() string { return p.source }

// Chain returns the files (or built-in names) the profile was assembled
// from, the profile itself first and its furthest ancestor last.
func (p *Profile) Chain() []string { return append([]string(nil), p.chain...) }

// WeakDeps reports whether weak dependencies are installed (default false).
func (p *Profile) WeakDeps() bool { return p.InstallWeakDeps != nil && *p.InstallWeakDeps }
