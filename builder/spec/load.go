package spec

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LoadOptions says where built-in profiles live.
type LoadOptions struct {
	// Builtin holds the built-in profiles as NAME.yaml at its root
	// (profiles.FS in kiln). Nil means no built-ins.
	Builtin fs.FS
}

// maxExtends bounds an extends chain, which also catches cycles early.
const maxExtends = 16

// Load reads a profile from a file path or, when ref is not a path to an
// existing file and names a built-in, from the built-ins. It follows
// extends, resolves relative paths against the file that holds them,
// merges, applies defaults and validates.
func Load(ref string, opts LoadOptions) (*Profile, error) {
	var chain []*Profile
	seen := map[string]bool{}
	next, from := ref, ""
	for {
		if len(chain) == maxExtends {
			return nil, &Error{File: chain[0].source, Field: "extends", Msg: fmt.Sprintf("more than %d levels of extends", maxExtends)}
		}
		p, id, err := read(next, from, opts)
		if err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, &Error{File: p.source, Field: "extends", Msg: fmt.Sprintf("extends cycle through %s", id)}
		}
		seen[id] = true
		chain = append(chain, p)
		if p.Extends == "" {
			break
		}
		next, from = p.Extends, p.source
	}
	merged := &Profile{}
	for i := len(chain) - 1; i >= 0; i-- {
		merged = merge(merged, chain[i])
	}
	merged.Extends = chain[0].Extends
	merged.source = chain[0].source
	merged.lines = nil
	for _, p := range chain {
		merged.chain = append(merged.chain, p.source)
	}
	merged.ApplyDefaults()
	if err := merged.Validate(); err != nil {
		return nil, locateErrors(err, merged, chain)
	}
	return merged, nil
}

// read loads one profile document; from is the file whose extends named it.
func read(ref, from string, opts LoadOptions) (*Profile, string, error) {
	path := ref
	if from != "" && !filepath.IsAbs(path) && !strings.HasPrefix(from, "builtin:") {
		path = filepath.Join(filepath.Dir(from), ref)
	}
	if looksLikePath(ref) || fileExists(path) {
		if strings.HasPrefix(from, "builtin:") {
			return nil, "", &Error{File: from, Field: "extends", Msg: fmt.Sprintf("a built-in profile can only extend another built-in, not %q", ref)}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("reading profile: %w", err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, "", err
		}
		p, err := Decode(path, data)
		if err != nil {
			return nil, "", err
		}
		if err := p.resolvePaths(filepath.Dir(abs)); err != nil {
			return nil, "", err
		}
		return p, abs, nil
	}
	if opts.Builtin != nil {
		data, err := fs.ReadFile(opts.Builtin, ref+".yaml")
		if err == nil {
			p, err := Decode("builtin:"+ref, data)
			if err != nil {
				return nil, "", err
			}
			return p, "builtin:" + ref, p.rejectRelativePaths()
		}
	}
	where := "no such file"
	if from != "" {
		where = fmt.Sprintf("named by extends in %s: no such file", from)
	}
	return nil, "", fmt.Errorf("profile %q: %s and no built-in profile has that name (see `kiln profiles list`)", ref, where)
}

func looksLikePath(ref string) bool {
	return strings.ContainsRune(ref, os.PathSeparator) || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// hasScheme reports whether s is a URL with a scheme (not a host path).
func hasScheme(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(u.Scheme) > 1
}

// resolvePaths makes the profile's relative host paths absolute against
// dir: gpgkey and baseurl entries without a scheme, file sources, image
// archives. A plain-path baseurl becomes a file:// URL.
func (p *Profile) resolvePaths(dir string) error {
	abs := func(s string) string {
		if s == "" || filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(dir, s)
	}
	for i := range p.Repos {
		r := &p.Repos[i]
		for j, u := range r.BaseURL {
			if !hasScheme(u) {
				r.BaseURL[j] = (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs(u))}).String()
			}
		}
		for j, k := range r.GPGKey {
			if !hasScheme(k) {
				r.GPGKey[j] = abs(k)
			}
		}
	}
	for i := range p.Files {
		p.Files[i].Source = abs(p.Files[i].Source)
	}
	for i := range p.Images {
		p.Images[i].Archive = abs(p.Images[i].Archive)
	}
	return nil
}

// rejectRelativePaths keeps built-in profiles free of host paths, which
// would mean nothing on the user's machine.
func (p *Profile) rejectRelativePaths() error {
	bad := func(field, v string) error {
		return &Error{File: p.source, Field: field, Msg: fmt.Sprintf("%q: built-in profiles may only use URLs", v)}
	}
	for i, r := range p.Repos {
		for j, u := range r.BaseURL {
			if !hasScheme(u) {
				return bad(fmt.Sprintf("repos[%d].baseurl[%d]", i, j), u)
			}
		}
		for j, k := range r.GPGKey {
			if !hasScheme(k) {
				return bad(fmt.Sprintf("repos[%d].gpgkey[%d]", i, j), k)
			}
		}
	}
	for i, f := range p.Files {
		if f.Source != "" {
			return bad(fmt.Sprintf("files[%d].source", i), f.Source)
		}
	}
	for i, im := range p.Images {
		if im.Archive != "" {
			return bad(fmt.Sprintf("images[%d].archive", i), im.Archive)
		}
	}
	return nil
}

// merge returns parent overlaid with child. Lists keyed by a name (repos,
// files, users, images) replace entries of the same key and append new
// ones; a package spec replaces the parent's spec for the same package
// name; plain lists are concatenated without duplicates; scalars set in
// the child win.
func merge(parent, child *Profile) *Profile {
	m := *parent
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.APIVersion, child.APIVersion)
	set(&m.Kind, child.Kind)
	set(&m.Name, child.Name)
	set(&m.Description, child.Description)
	set(&m.Deprecated, child.Deprecated)
	set(&m.Arch, child.Arch)
	set(&m.SELinux, child.SELinux)
	m.Repos = mergeKeyed(parent.Repos, child.Repos, func(r Repo) string { return r.Name })
	m.Packages = mergeKeyed(parent.Packages, child.Packages, PackageSpecName)
	m.Exclude = union(parent.Exclude, child.Exclude)
	if child.InstallWeakDeps != nil {
		m.InstallWeakDeps = child.InstallWeakDeps
	}
	m.Files = mergeKeyed(parent.Files, child.Files, func(f File) string { return f.Path })
	m.Units = mergeUnits(parent.Units, child.Units)
	m.Sysctl = mergeMap(parent.Sysctl, child.Sysctl)
	m.KernelModules = union(parent.KernelModules, child.KernelModules)
	m.KernelCmdline = union(parent.KernelCmdline, child.KernelCmdline)
	m.Users = mergeKeyed(parent.Users, child.Users, func(u User) string { return u.Name })
	set(&m.Boot.Firmware, child.Boot.Firmware)
	set(&m.Boot.Initramfs, child.Boot.Initramfs)
	m.Boot.SecureBoot = parent.Boot.SecureBoot || child.Boot.SecureBoot
	if child.Disk.Size != 0 {
		m.Disk.Size = child.Disk.Size
	}
	set(&m.Disk.Compat, child.Disk.Compat)
	if len(child.Outputs) > 0 {
		m.Outputs = child.Outputs
	}
	if child.OVA.HardwareVersion != 0 {
		m.OVA.HardwareVersion = child.OVA.HardwareVersion
	}
	if child.OVA.CPUs != 0 {
		m.OVA.CPUs = child.OVA.CPUs
	}
	if child.OVA.MemoryMiB != 0 {
		m.OVA.MemoryMiB = child.OVA.MemoryMiB
	}
	set(&m.OVA.GuestOS, child.OVA.GuestOS)
	set(&m.OVA.Network, child.OVA.Network)
	m.OVA.ExtraConfig = mergeMap(parent.OVA.ExtraConfig, child.OVA.ExtraConfig)
	m.Images = mergeKeyed(parent.Images, child.Images, func(i Image) string { return i.Ref })
	m.Kubernetes = mergeKubernetes(parent.Kubernetes, child.Kubernetes)
	return &m
}

// mergeKubernetes: the child's lists replace the parent's when set (an empty list
// too: cni: [] builds for no pod network), image overrides merge by name.
func mergeKubernetes(p, c *Kubernetes) *Kubernetes {
	if p == nil || c == nil {
		if c != nil {
			p = c
		}
		if p == nil {
			return nil
		}
		k := *p
		k.Images = mergeMap(p.Images, nil)
		return &k
	}
	k := *p
	if c.LoadBalancers != nil {
		k.LoadBalancers = c.LoadBalancers
	}
	if c.CNI != nil {
		k.CNI = c.CNI
	}
	if c.ImageRepository != "" {
		k.ImageRepository = c.ImageRepository
	}
	if c.PullAllowed != nil {
		k.PullAllowed = c.PullAllowed
	}
	k.Images = mergeMap(p.Images, c.Images)
	return &k
}

func mergeKeyed[T any](parent, child []T, key func(T) string) []T {
	out := slices.Clone(parent)
	for _, c := range child {
		// Only the parent's entries are replaced: duplicates within one
		// file are left for Validate to report.
		if i := slices.IndexFunc(out[:len(parent)], func(p T) bool { return key(p) == key(c) }); i >= 0 {
			out[i] = c
		} else {
			out = append(out, c)
		}
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func mergeMap(a, b map[string]string) map[string]string {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// mergeUnits lets the child's choice for a unit override the parent's.
func mergeUnits(p, c Units) Units {
	drop := func(list []string, names ...[]string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(u string) bool {
			for _, n := range names {
				if slices.Contains(n, u) {
					return true
				}
			}
			return false
		})
	}
	return Units{
		Enable:  union(drop(p.Enable, c.Disable, c.Mask), c.Enable),
		Disable: union(drop(p.Disable, c.Enable, c.Mask), c.Disable),
		Mask:    union(drop(p.Mask, c.Enable, c.Disable), c.Mask),
	}
}

// PackageSpecName returns the package name part of a spec: everything
// before the first "-" that starts a version (a digit, or an epoch).
// "docker-ce-3:27.5.1" gives "docker-ce", "kubeadm-1.34.2-150500.1.1" gives
// "kubeadm". It is a heuristic for merging; the solver matches specs
// against real package names.
func PackageSpecName(spec string) string {
	for i := 0; i+1 < len(spec); i++ {
		if spec[i] == '-' && spec[i+1] >= '0' && spec[i+1] <= '9' {
			return spec[:i]
		}
	}
	return spec
}
