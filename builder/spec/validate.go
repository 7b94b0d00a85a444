package spec

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/kiln-build/kiln/firstboot/document"
	"github.com/kiln-build/kiln/firstboot/imageset"
)

// Defaults applied by ApplyDefaults.
const (
	DefaultArch      = "x86_64"
	DefaultDiskSize  = Size(20 << 30)
	DefaultFirmware  = "hybrid"
	DefaultInitramfs = "kiln"
	// The kubernetes section's defaults: the seed's topology (DESIGN decision 7).
	DefaultLoadBalancer    = imageset.LBKeepalivedHAProxy
	DefaultCNI             = imageset.CNIFlannel
	DefaultImageRepository = "registry.k8s.io"
)

// Output is an image file format a profile asks for.
type Output string

// The outputs kiln writes.
const (
	OutputRaw   Output = "raw"   // the disk itself, NAME.raw
	OutputQCOW2 Output = "qcow2" // QEMU/KVM, NAME.qcow2
	OutputVMDK  Output = "vmdk"  // streamOptimized, NAME.vmdk
	OutputOVA   Output = "ova"   // vSphere, NAME.ova (OVF + the VMDK)
	OutputGCE   Output = "gce"   // Compute Engine, NAME-gce.tar.gz (disk.raw)
)

// KnownOutputs are the outputs kiln can write, in the order it writes them.
var KnownOutputs = []Output{OutputRaw, OutputQCOW2, OutputVMDK, OutputOVA, OutputGCE}

// ApplyDefaults fills the settings a profile may leave out.
func (p *Profile) ApplyDefaults() {
	if p.Arch == "" {
		p.Arch = DefaultArch
	}
	if p.Disk.Size == 0 {
		p.Disk.Size = DefaultDiskSize
	}
	if p.Boot.Firmware == "" {
		p.Boot.Firmware = DefaultFirmware
	}
	if p.Boot.Initramfs == "" {
		p.Boot.Initramfs = DefaultInitramfs
	}
	if len(p.Outputs) == 0 {
		p.Outputs = []Output{OutputRaw, OutputQCOW2}
	}
	if p.OVA.HardwareVersion == 0 {
		p.OVA.HardwareVersion = 15
	}
	if p.OVA.CPUs == 0 {
		p.OVA.CPUs = 2
	}
	if p.OVA.MemoryMiB == 0 {
		p.OVA.MemoryMiB = 4096
	}
	if p.OVA.GuestOS == "" {
		p.OVA.GuestOS = "otherLinux64Guest"
	}
	if p.OVA.Network == "" {
		p.OVA.Network = "VM Network"
	}
	if k := p.Kubernetes; k != nil {
		if k.LoadBalancers == nil {
			k.LoadBalancers = []string{DefaultLoadBalancer}
		}
		if k.CNI == nil {
			k.CNI = []string{DefaultCNI}
		}
		if k.ImageRepository == "" {
			k.ImageRepository = DefaultImageRepository
		}
	}
}

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	// A package spec: NAME, NAME-VERSION, NAME-VERSION-RELEASE, or any of
	// those with EPOCH: before the version; NAME may also be a capability
	// or a file path as dnf accepts.
	specRE           = regexp.MustCompile(`^[A-Za-z0-9_+./][A-Za-z0-9_+.~^/()-]*(-[0-9]+:[A-Za-z0-9_.+~^-]+)?$`)
	sysctlRE         = regexp.MustCompile(`^[a-z0-9_][a-z0-9_./-]*$`)
	moduleRE         = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	unitRE           = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+\.(service|socket|timer|target|mount|automount|path|slice|scope|swap|device)$`)
	userRE           = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	guestOSRE        = regexp.MustCompile(`^[A-Za-z0-9_]+Guest$`)
	sshKeyRE         = regexp.MustCompile(`^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$`)
	serialSettingsRE = regexp.MustCompile(`^[0-9]+([noe][5-8]?r?)?$`)
	registryPathRE   = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	imageRefRE       = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
)

// Validate checks the profile and returns every mistake found, each an
// *Error naming the field and what is allowed (joined with errors.Join).
func (p *Profile) Validate() error {
	v := &validator{file: p.source, profile: p}
	if p.APIVersion != APIVersion {
		v.add("apiVersion", "%q is not supported (want %q)", p.APIVersion, APIVersion)
	}
	if p.Kind != Kind {
		v.add("kind", "%q is not a profile (want %q)", p.Kind, Kind)
	}
	if !nameRE.MatchString(p.Name) {
		v.add("name", "%q is not a valid name (want lower-case letters, digits, '.', '_' and '-', at most 63)", p.Name)
	}
	if d := p.Deprecated; d != "" && (strings.TrimSpace(d) == "" || strings.ContainsFunc(d, unicode.IsControl)) {
		v.add("deprecated", "%q is not one line of text (want why the profile should not be used and what to use instead)", d)
	}
	if p.Arch != "x86_64" {
		v.add("arch", "%q is not supported (want x86_64)", p.Arch)
	}
	p.validateRepos(v)
	if len(p.Packages) == 0 {
		v.add("packages", "at least one package is needed")
	}
	for i, s := range p.Packages {
		if !specRE.MatchString(s) {
			v.add(fmt.Sprintf("packages[%d]", i), "%q is not a package spec (want NAME, NAME-VERSION or NAME-VERSION-RELEASE, optionally with EPOCH: before the version)", s)
		}
	}
	checkGlobs(v, "exclude", p.Exclude)
	p.validateImage(v)
	p.validateKubernetes(v)
	return v.err()
}

func (p *Profile) validateRepos(v *validator) {
	if len(p.Repos) == 0 {
		v.add("repos", "at least one repository is needed")
	}
	names := map[string]bool{}
	for i, r := range p.Repos {
		f := fmt.Sprintf("repos[%d]", i)
		if !repoNameRE.MatchString(r.Name) {
			v.add(f+".name", "%q is not a valid repository name (want letters, digits, '_', '.', ':' and '-')", r.Name)
		} else if names[r.Name] {
			v.add(f+".name", "%q is used by another repository", r.Name)
		}
		names[r.Name] = true
		if len(r.BaseURL) == 0 {
			v.add(f+".baseurl", "at least one URL is needed (http://, https:// or file://)")
		}
		for j, u := range r.BaseURL {
			pu, err := url.Parse(u)
			if err != nil || !slices.Contains([]string{"http", "https", "file"}, pu.Scheme) || (pu.Scheme != "file" && pu.Host == "") {
				v.add(fmt.Sprintf("%s.baseurl[%d]", f, j), "%q is not a repository URL (want http://, https:// or file://)", u)
			}
		}
		for j, k := range r.GPGKey {
			if pu, err := url.Parse(k); err != nil || (hasScheme(k) && pu.Scheme != "https" && pu.Scheme != "file") {
				v.add(fmt.Sprintf("%s.gpgkey[%d]", f, j), "%q is not a key location (want a path, file:// or https:// URL)", k)
			}
		}
		if (r.GPGCheckEnabled() || r.RepoGPGCheckEnabled()) && len(r.GPGKey) == 0 {
			v.add(f+".gpgkey", "needed when gpgcheck or repo_gpgcheck is on (gpgcheck defaults to true; set gpgcheck: false to install unsigned packages)")
		}
		if r.Priority < 0 || r.Priority > 99 {
			v.add(f+".priority", "%d is out of range (want 1 to 99; lower wins; default 99)", r.Priority)
		}
		checkGlobs(v, f+".exclude", r.Exclude)
	}
}

func (p *Profile) validateImage(v *validator) {
	paths := map[string]bool{}
	for i, fl := range p.Files {
		f := fmt.Sprintf("files[%d]", i)
		if !path.IsAbs(fl.Path) || path.Clean(fl.Path) != fl.Path || fl.Path == "/" {
			v.add(f+".path", "%q is not an absolute, clean file path", fl.Path)
		} else if paths[fl.Path] {
			v.add(f+".path", "%q is written twice", fl.Path)
		}
		paths[fl.Path] = true
		if (fl.Content == "") == (fl.Source == "") {
			v.add(f, "set exactly one of content and source")
		}
		if fl.Mode != "" {
			if m, err := strconv.ParseUint(fl.Mode, 8, 32); err != nil || m > 0o7777 {
				v.add(f+".mode", "%q is not an octal file mode (want e.g. \"0644\")", fl.Mode)
			}
		}
	}
	for _, list := range []struct {
		field string
		units []string
	}{{"units.enable", p.Units.Enable}, {"units.disable", p.Units.Disable}, {"units.mask", p.Units.Mask}} {
		for i, u := range list.units {
			if !unitRE.MatchString(u) {
				v.add(fmt.Sprintf("%s[%d]", list.field, i), "%q is not a systemd unit name (want NAME.service, NAME.timer, ...)", u)
			}
		}
	}
	for _, k := range sortedKeys(p.Sysctl) {
		if !sysctlRE.MatchString(k) {
			v.add(document.KeyPath("sysctl", k), "not a sysctl key (want e.g. net.ipv4.ip_forward)")
		}
		if strings.TrimSpace(p.Sysctl[k]) == "" {
			v.add(document.KeyPath("sysctl", k), "empty value")
		}
	}
	for i, m := range p.KernelModules {
		if !moduleRE.MatchString(m) {
			v.add(fmt.Sprintf("kernelModules[%d]", i), "%q is not a kernel module name", m)
		}
	}
	if !slices.Contains([]string{"", "enforcing", "permissive", "disabled"}, p.SELinux) {
		v.add("selinux", "%q is not a SELinux mode (want enforcing, permissive or disabled)", p.SELinux)
	}
	for i, a := range p.KernelCmdline {
		if a == "" || strings.ContainsAny(a, " \t\n\"") {
			v.add(fmt.Sprintf("kernelCmdline[%d]", i), "%q is not one kernel argument (no spaces or quotes; one argument per entry)", a)
		} else if i > 0 && !strings.Contains(a, "=") && strings.HasPrefix(p.KernelCmdline[i-1], "console=") && serialSettingsRE.MatchString(a) {
			// [console=ttyS0,115200n8] in a YAML flow list splits at the comma.
			v.add(fmt.Sprintf("kernelCmdline[%d]", i), "%q looks like the rest of %q split at a comma: quote the argument or use a block list (- console=ttyS0,115200n8)", a, p.KernelCmdline[i-1])
		}
	}
	users := map[string]bool{}
	for i, u := range p.Users {
		f := fmt.Sprintf("users[%d]", i)
		if !userRE.MatchString(u.Name) {
			v.add(f+".name", "%q is not a user name (want lower-case letters, digits, '_' and '-')", u.Name)
		} else if users[u.Name] {
			v.add(f+".name", "%q is defined twice", u.Name)
		}
		users[u.Name] = true
		for j, k := range u.SSHAuthorizedKeys {
			if !sshKeyRE.MatchString(k) {
				v.add(fmt.Sprintf("%s.sshAuthorizedKeys[%d]", f, j), "not an OpenSSH public key line (want \"ssh-ed25519 AAAA... comment\")")
			}
		}
		if u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$") {
			v.add(f+".passwordHash", "want a crypt(3) hash such as $6$..., never a plain password")
		}
	}
	if !slices.Contains([]string{"hybrid", "uefi", "bios"}, p.Boot.Firmware) {
		v.add("boot.firmware", "%q is not supported (want hybrid, uefi or bios)", p.Boot.Firmware)
	}
	if !slices.Contains([]string{"kiln", "dracut"}, p.Boot.Initramfs) {
		v.add("boot.initramfs", "%q is not supported (want kiln or dracut)", p.Boot.Initramfs)
	}
	if p.Boot.SecureBoot && p.Boot.Firmware == "bios" {
		v.add("boot.secureBoot", "needs UEFI firmware (boot.firmware: uefi or hybrid)")
	}
	if p.Disk.Size < 1<<30 || p.Disk.Size > 62<<40 {
		v.add("disk.size", "%s is out of range (want 1GiB to 62TiB)", p.Disk.Size)
	}
	if p.Disk.Size%(1<<20) != 0 {
		v.add("disk.size", "%s is not a whole number of MiB", p.Disk.Size)
	}
	if !slices.Contains([]string{"", "el7"}, p.Disk.Compat) {
		v.add("disk.compat", "%q is not supported (want el7, or leave it out for EL8 and later)", p.Disk.Compat)
	}
	seen := map[Output]bool{}
	known := make([]string, len(KnownOutputs))
	for i, o := range KnownOutputs {
		known[i] = string(o)
	}
	for i, o := range p.Outputs {
		if !slices.Contains(KnownOutputs, o) {
			v.add(fmt.Sprintf("outputs[%d]", i), "%q is not an output format (want %s)", o, strings.Join(known, ", "))
		} else if seen[o] {
			v.add(fmt.Sprintf("outputs[%d]", i), "%q is listed twice", o)
		}
		seen[o] = true
	}
	if hv := p.OVA.HardwareVersion; hv < 10 || hv > 21 {
		v.add("ova.hardwareVersion", "%d is not supported (want 10 to 21; 15 runs on vSphere 6.7 U2 and later)", hv)
	}
	if p.OVA.CPUs < 1 || p.OVA.CPUs > 128 {
		v.add("ova.cpus", "%d is out of range (want 1 to 128)", p.OVA.CPUs)
	}
	if p.OVA.MemoryMiB < 256 || p.OVA.MemoryMiB > 6<<20 {
		v.add("ova.memoryMiB", "%d is out of range (want 256 to 6291456)", p.OVA.MemoryMiB)
	}
	if !guestOSRE.MatchString(p.OVA.GuestOS) {
		v.add("ova.guestOS", "%q is not a vSphere guest OS id (want e.g. centos9_64Guest, rhel8_64Guest, otherLinux64Guest)", p.OVA.GuestOS)
	}
	for _, k := range sortedKeys(p.OVA.ExtraConfig) {
		if k == "" || strings.ContainsAny(k, " \t\n=") {
			v.add(document.KeyPath("ova.extraConfig", k), "not a VMX key")
		}
	}
	refs := map[string]bool{}
	for i, im := range p.Images {
		f := fmt.Sprintf("images[%d].ref", i)
		if !imageRefRE.MatchString(im.Ref) {
			v.add(f, "%q is not an image reference (want e.g. registry.k8s.io/pause:3.10)", im.Ref)
		} else if refs[im.Ref] {
			v.add(f, "%q is listed twice", im.Ref)
		}
		refs[im.Ref] = true
	}
}

func (p *Profile) validateKubernetes(v *validator) {
	k := p.Kubernetes
	if k == nil {
		return
	}
	oneOf := func(field string, list, allowed []string, what string) {
		seen := map[string]bool{}
		for i, x := range list {
			f := fmt.Sprintf("%s[%d]", field, i)
			if !slices.Contains(allowed, x) {
				v.add(f, "%q is not %s (want %s)", x, what, strings.Join(allowed, " or "))
			} else if seen[x] {
				v.add(f, "%q is listed twice", x)
			}
			seen[x] = true
		}
	}
	oneOf("kubernetes.loadBalancers", k.LoadBalancers, imageset.LoadBalancers, "a load-balancer mode with images")
	oneOf("kubernetes.cni", k.CNI, imageset.CNIs, "a pod network kiln installs")
	if !registryPathRE.MatchString(k.ImageRepository) {
		v.add("kubernetes.imageRepository", "%q is not a registry path (want e.g. registry.k8s.io or kiln.test/k8s)", k.ImageRepository)
	}
	names := imageset.Names()
	for _, n := range sortedKeys(k.Images) {
		f, ref := "kubernetes.images."+n, k.Images[n]
		if !slices.Contains(names, n) {
			msg := fmt.Sprintf("%q is not an image kiln derives (want one of %s)", n, strings.Join(names, ", "))
			if s := closest(n, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			v.add(f, "%s", msg)
			continue
		}
		if !imageRefRE.MatchString(ref) {
			v.add(f, "%q is not an image reference (want e.g. kiln.test/haproxy:2.6.12)", ref)
			continue
		}
		// kubeadm appends the fixed names etcd and coredns to a repository of its
		// configuration, so only such references can be asked of it.
		if n == imageset.Etcd || n == imageset.CoreDNS {
			repo, tag, ok := SplitKubeadmImage(ref, n)
			if !ok || tag == "" {
				v.add(f, "%q: kubeadm can only be given REPOSITORY/%s:TAG (no digest)", ref, n)
			} else if n == imageset.CoreDNS && repo == DefaultImageRepository {
				v.add(f, "%q: kubeadm reads %s/coredns as %s/coredns/coredns; write that", ref, repo, repo)
			}
		}
	}
	for i, a := range k.PullAllowed {
		prefix := strings.TrimSuffix(a, "/")
		if strings.HasSuffix(a, "/") && registryPathRE.MatchString(prefix) || !strings.HasSuffix(a, "/") && imageRefRE.MatchString(a) {
			continue
		}
		v.add(fmt.Sprintf("kubernetes.pullAllowed[%d]", i), "%q is neither an image reference nor a registry prefix ending in / (want e.g. registry.k8s.io/ or kiln.test/haproxy:2.6.12)", a)
	}
}

// SplitKubeadmImage splits REPOSITORY/NAME:TAG, the form kubeadm builds its etcd and
// CoreDNS references in; ok is false for another name, a digest or no tag.
func SplitKubeadmImage(ref, name string) (repo, tag string, ok bool) {
	if strings.Contains(ref, "@") {
		return "", "", false
	}
	i := strings.LastIndex(ref, "/"+name+":")
	if i <= 0 {
		return "", "", false
	}
	return ref[:i], ref[i+len(name)+2:], true
}

// closest returns the name nearest to s when it looks like a typo of it.
func closest(s string, names []string) string { return document.Suggest(s, names) }

func checkGlobs(v *validator, field string, globs []string) {
	for i, g := range globs {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%q is not a glob pattern", g)
		}
	}
}

type validator struct {
	file    string
	profile *Profile
	errs    []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.profile.lineOf(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
