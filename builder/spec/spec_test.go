package spec_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/spec"
	"github.com/kiln-build/kiln/profiles"
)

const minimal = `apiVersion: kiln/v1
kind: Profile
name: node
repos:
  - name: base
    baseurl: https://example.com/9/BaseOS/x86_64/os/
    gpgkey: keys/RPM-GPG-KEY
packages: [kernel, kubeadm-1.34.2]
`

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeErrorsNameFileLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"misspelled key", strings.Replace(minimal, "baseurl:", "baseurls:", 1),
			`p.yaml:6: repos[0].baseurls: unknown field (did you mean "baseurl"?)`},
		{"unknown top-level key", minimal + "pakages: [x]\n",
			`p.yaml:9: pakages: unknown field (did you mean "packages"?)`},
		{"wrong type", minimal + "ova:\n  cpus: two\n",
			`p.yaml:10: ova.cpus: "two" is not a whole number`},
		{"quoted number", minimal + "ova:\n  cpus: \"2\"\n",
			`p.yaml:10: ova.cpus: "2" is not a whole number`},
		{"yes is not a boolean", minimal + "installWeakDeps: \"yes\"\n",
			`p.yaml:9: installWeakDeps: "yes" is not a boolean (want true or false)`},
		{"bare yes is not a boolean", minimal + "installWeakDeps: yes\n",
			`p.yaml:9: installWeakDeps: "yes" is not a boolean (want true or false)`},
		{"bad size", minimal + "disk:\n  size: 20 parsecs\n",
			`p.yaml:10: disk.size: "20 parsecs" is not a size`},
		{"duplicate key", minimal + "name: again\n",
			`p.yaml:9: `},
		{"two documents", minimal + "---\nname: x\n", "p.yaml:9: more than one document; want exactly one"},
		{"not a mapping", "- a\n- b\n", "p.yaml:1: want a mapping, got a list"},
		{"empty", "", "p.yaml: empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Decode("p.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode() error = %v, want it to contain %q", err, tc.want)
			}
			var se *spec.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *spec.Error", err)
			}
		})
	}
}

func TestLoadResolvesRelativePathsAndDefaults(t *testing.T) {
	dir := t.TempDir()
	doc := strings.Replace(minimal, "repos:\n", "repos:\n  - name: local\n    baseurl: ../repo\n    gpgcheck: false\n", 1) + `files:
  - path: /etc/motd
    source: motd.txt
  - path: /etc/issue
    content: hi
images:
  - ref: registry.k8s.io/pause:3.10.1
    archive: images/pause.tar
`
	p := write(t, dir, "sub/node.yaml", doc)
	prof, err := spec.Load(p, spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if got, want := prof.Repos[1].GPGKey[0], filepath.Join(sub, "keys/RPM-GPG-KEY"); got != want {
		t.Errorf("gpgkey = %q, want %q", got, want)
	}
	if got, want := prof.Repos[0].BaseURL[0], "file://"+filepath.Join(dir, "repo"); got != want {
		t.Errorf("baseurl = %q, want %q", got, want)
	}
	if got, want := prof.Files[0].Source, filepath.Join(sub, "motd.txt"); got != want {
		t.Errorf("files[0].source = %q, want %q", got, want)
	}
	if got, want := prof.Images[0].Archive, filepath.Join(sub, "images/pause.tar"); got != want {
		t.Errorf("images[0].archive = %q, want %q", got, want)
	}
	if prof.Arch != "x86_64" || prof.Disk.Size != 20<<30 || prof.Boot.Firmware != "hybrid" || prof.WeakDeps() {
		t.Errorf("defaults not applied: arch=%q size=%v firmware=%q weak=%v", prof.Arch, prof.Disk.Size, prof.Boot.Firmware, prof.WeakDeps())
	}
	if !prof.Repos[1].GPGCheckEnabled() || prof.Repos[0].GPGCheckEnabled() || prof.Repos[1].EffectivePriority() != 99 {
		t.Errorf("repo defaults wrong: %+v", prof.Repos)
	}
}

func TestExtendsMergesChildOverParent(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base.yaml", minimal+`exclude: [firewalld]
sysctl: {net.ipv4.ip_forward: "1", vm.swappiness: "0"}
units: {enable: [chronyd.service, firewalld.service]}
outputs: [raw]
`)
	child := write(t, dir, "child.yaml", `apiVersion: kiln/v1
kind: Profile
name: child
extends: base.yaml
repos:
  - name: base
    baseurl: https://mirror.example.org/9/
    gpgkey: https://mirror.example.org/key
  - name: k8s
    baseurl: https://pkgs.example.org/v1.34/rpm/
    gpgkey: https://pkgs.example.org/v1.34/key
packages: [kubeadm-1.33.1, kubelet]
sysctl: {vm.swappiness: "10"}
units: {disable: [firewalld.service]}
installWeakDeps: true
`)
	p, err := spec.Load(child, spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if g, w := strings.TrimSpace(strings.ReplaceAll(toString(got), "\n", " ")), toString(want); g != w {
			t.Errorf("%s = %s, want %s", what, g, w)
		}
	}
	check("name", p.Name, "child")
	check("repos", []string{p.Repos[0].Name, p.Repos[0].BaseURL[0], p.Repos[1].Name}, []string{"base", "https://mirror.example.org/9/", "k8s"})
	check("packages", p.Packages, []string{"kernel", "kubeadm-1.33.1", "kubelet"})
	check("sysctl", p.Sysctl, map[string]string{"net.ipv4.ip_forward": "1", "vm.swappiness": "10"})
	check("units.enable", p.Units.Enable, []string{"chronyd.service"})
	check("units.disable", p.Units.Disable, []string{"firewalld.service"})
	check("exclude", p.Exclude, []string{"firewalld"})
	check("outputs", p.Outputs, []string{"raw"})
	check("weak deps", p.WeakDeps(), true)
	if c := p.Chain(); len(c) != 2 || !strings.HasSuffix(c[1], "base.yaml") {
		t.Errorf("Chain() = %v", c)
	}
}

func toString(v any) string { return strings.TrimSpace(strings.ReplaceAll(fmtV(v), "\n", " ")) }

func TestExtendsCycleAndMissingParent(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", minimal+"extends: b.yaml\n")
	write(t, dir, "b.yaml", strings.Replace(minimal, "name: node", "name: b", 1)+"extends: a.yaml\n")
	if _, err := spec.Load(filepath.Join(dir, "a.yaml"), spec.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "extends cycle") {
		t.Errorf("cycle: err = %v", err)
	}
	write(t, dir, "c.yaml", minimal+"extends: nowhere\n")
	if _, err := spec.Load(filepath.Join(dir, "c.yaml"), spec.LoadOptions{}); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("missing parent: err = %v", err)
	}
}

func TestValidateNamesFieldAndAllowedValues(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"bad spec", "", `packages[2]: "kubeadm=1.34" is not a package spec (want NAME, NAME-VERSION or NAME-VERSION-RELEASE`},
		{"bad selinux", "selinux: off\n", `selinux: "off" is not a SELinux mode (want enforcing, permissive or disabled)`},
		{"bad output", "outputs: [raw, iso]\n", `outputs[1]: "iso" is not an output format (want raw, qcow2, vmdk, ova, gce)`},
		{"bad firmware", "boot: {firmware: coreboot}\n", `boot.firmware: "coreboot" is not supported (want hybrid, uefi or bios)`},
		{"relative file path", "files: [{path: etc/x, content: y}]\n", `files[0].path: "etc/x" is not an absolute, clean file path`},
		{"both content and source", "files: [{path: /etc/x, content: y, source: z}]\n", `files[0]: set exactly one of content and source`},
		{"bad mode", "files: [{path: /etc/x, content: y, mode: \"0999\"}]\n", `files[0].mode: "0999" is not an octal file mode`},
		{"bad unit", "units: {enable: [kubelet]}\n", `units.enable[0]: "kubelet" is not a systemd unit name`},
		{"small disk", "disk: {size: 100MiB}\n", `disk.size: 100MiB is out of range (want 1GiB to 62TiB)`},
		{"bad ssh key", "users: [{name: ops, sshAuthorizedKeys: [hello]}]\n", `users[0].sshAuthorizedKeys[0]: not an OpenSSH public key line`},
		{"plain password", "users: [{name: ops, passwordHash: hunter2}]\n", `users[0].passwordHash: want a crypt(3) hash`},
		{"bad image", "images: [{ref: 'Registry/UPPER:tag'}]\n", `images[0].ref: "Registry/UPPER:tag" is not an image reference`},
		{"cmdline with space", "kernelCmdline: ['console=ttyS0 quiet']\n", `kernelCmdline[0]: "console=ttyS0 quiet" is not one kernel argument`},
		{"console split by a flow list", "kernelCmdline: [console=tty0, console=ttyS0,115200n8]\n", `kernelCmdline[2]: "115200n8" looks like the rest of "console=ttyS0" split at a comma`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := minimal + tc.extra
			if tc.name == "bad spec" {
				doc = strings.Replace(doc, "packages: [kernel, kubeadm-1.34.2]", "packages: [kernel, kubeadm-1.34.2, kubeadm=1.34]", 1)
			}
			p := write(t, t.TempDir(), "p.yaml", doc)
			_, err := spec.Load(p, spec.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load() error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateRepos(t *testing.T) {
	for _, tc := range []struct {
		name, repos, want string
	}{
		{"no repos", "repos: []\n", "repos: at least one repository is needed"},
		{"ftp baseurl", "repos: [{name: a, baseurl: 'ftp://x/y', gpgcheck: false}]\n", `repos[0].baseurl[0]: "ftp://x/y" is not a repository URL`},
		{"gpgcheck without key", "repos: [{name: a, baseurl: 'https://x/y'}]\n", "repos[0].gpgkey: needed when gpgcheck or repo_gpgcheck is on"},
		{"http key", "repos: [{name: a, baseurl: 'https://x/y', gpgkey: 'http://x/key'}]\n", `repos[0].gpgkey[0]: "http://x/key" is not a key location`},
		{"priority", "repos: [{name: a, baseurl: 'https://x/y', gpgcheck: false, priority: 120}]\n", "repos[0].priority: 120 is out of range"},
		{"duplicate name", "repos: [{name: a, baseurl: 'https://x/y', gpgcheck: false}, {name: a, baseurl: 'https://x/z', gpgcheck: false}]\n", `repos[1].name: "a" is used by another repository`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "apiVersion: kiln/v1\nkind: Profile\nname: n\npackages: [kernel]\n" + tc.repos
			_, err := spec.Load(write(t, t.TempDir(), "p.yaml", doc), spec.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load() error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// Every built-in profile must load and validate.
func TestBuiltinProfilesValidate(t *testing.T) {
	names := profiles.Names()
	if len(names) < 6 {
		t.Fatalf("only %d built-in profiles: %v", len(names), names)
	}
	for _, n := range names {
		p, err := spec.Load(n, spec.LoadOptions{Builtin: profiles.FS()})
		if err != nil {
			t.Errorf("built-in %s: %v", n, err)
			continue
		}
		if p.Name != n {
			t.Errorf("built-in %s is named %q", n, p.Name)
		}
		if p.Description == "" {
			t.Errorf("built-in %s has no description", n)
		}
		// Built-ins fetch from public mirrors: every package is checked
		// against a key fetched over https.
		for _, r := range p.Repos {
			if !r.GPGCheckEnabled() || len(r.GPGKey) == 0 {
				t.Errorf("built-in %s: repository %s does not check signatures", n, r.Name)
			}
			for _, u := range append(append([]string{}, r.BaseURL...), r.GPGKey...) {
				if !strings.HasPrefix(u, "https://") {
					t.Errorf("built-in %s: repository %s: %s is not https", n, r.Name, u)
				}
			}
		}
		// Only CentOS 7, past its end of life, is deprecated, and every
		// profile built on it says so.
		if eol := strings.HasPrefix(n, "centos7"); eol != (p.Deprecated != "") {
			t.Errorf("built-in %s: deprecated = %q", n, p.Deprecated)
		}
	}
}

func TestBuiltinKernelCmdlineKeepsSerialSettings(t *testing.T) {
	p, err := spec.Load("rocky9-k8s", spec.LoadOptions{Builtin: profiles.FS()})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.KernelCmdline, " "); got != "console=tty0 console=ttyS0,115200n8" {
		t.Errorf("kernel command line = %q", got)
	}
}

func TestBuiltinExtendsFromUserProfile(t *testing.T) {
	p := write(t, t.TempDir(), "mine.yaml", "apiVersion: kiln/v1\nkind: Profile\nname: mine\nextends: rocky9-k8s\npackages: [kubeadm-1.34.1]\n")
	prof, err := spec.Load(p, spec.LoadOptions{Builtin: profiles.FS()})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range prof.Packages {
		if s == "kubeadm-1.34.2" {
			t.Errorf("parent's kubeadm pin survived: %v", prof.Packages)
		}
		found = found || s == "kubeadm-1.34.1"
	}
	if !found || prof.Chain()[1] != "builtin:rocky9-k8s" {
		t.Errorf("packages %v, chain %v", prof.Packages, prof.Chain())
	}
}

func TestPackageSpecName(t *testing.T) {
	for in, want := range map[string]string{
		"kubeadm": "kubeadm", "kubeadm-1.34.2": "kubeadm", "kubeadm-1.34.2-150500.1.1": "kubeadm",
		"docker-ce-3:27.5.1": "docker-ce", "kubernetes-cni-1.2.0": "kubernetes-cni", "python3-dnf": "python3-dnf",
	} {
		if got := spec.PackageSpecName(in); got != want {
			t.Errorf("PackageSpecName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]spec.Size{"20GiB": 20 << 30, "512MiB": 512 << 20, "10G": 10 << 30, "1048576": 1 << 20, "1TB": 1e12} {
		if got, err := spec.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1G", "1.5G", "lots", "99999999999TiB"} {
		if _, err := spec.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

// TestExtendsErrorsNameTheLineWritten: Validate checks the merged profile,
// but its errors point at the file of the chain that set the field, with
// the position and line written there, not packages[40] of the merged list.
func TestExtendsErrorsNameTheLineWritten(t *testing.T) {
	dir := t.TempDir()
	var pkgs strings.Builder
	for i := range 40 {
		fmt.Fprintf(&pkgs, "  - pkg%d\n", i)
	}
	base := write(t, dir, "base.yaml", strings.Replace(minimal, "packages: [kernel, kubeadm-1.34.2]\n", "packages:\n"+pkgs.String(), 1))
	child := write(t, dir, "sub/child.yaml", `apiVersion: kiln/v1
kind: Profile
name: child
extends: ../base.yaml
packages:
  - kubeadm-1.34.2
  - kubeadm=1.34
sysctl:
  net.ipv4.ip_forward: ""
`)
	_, err := spec.Load(child, spec.LoadOptions{})
	for _, want := range []string{
		child + `:7: packages[1]: "kubeadm=1.34" is not a package spec`,
		child + `:9: sysctl["net.ipv4.ip_forward"]: empty value`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %v\nwant it to contain %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "packages[41]") {
		t.Errorf("the error names the merged list: %v", err)
	}

	// A mistake in the parent is the parent's, at its line.
	write(t, dir, "base.yaml", strings.Replace(minimal, "https://example.com", "ftp://example.com", 1))
	write(t, dir, "sub/child.yaml", "apiVersion: kiln/v1\nkind: Profile\nname: child\nextends: ../base.yaml\n")
	_, err = spec.Load(child, spec.LoadOptions{})
	if want := base + `:6: repos[0].baseurl[0]: "ftp://example.com/9/BaseOS/x86_64/os/" is not a repository URL`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v\nwant it to contain %s", err, want)
	}
}

// deprecated: passes down extends, so a profile built on an end-of-life OS
// warns too, and must be one printable line.
func TestDeprecatedPassesToChildren(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "old.yaml", minimal+"deprecated: Old OS 1 reached its end of life; use new instead\n")
	child := write(t, dir, "child.yaml", "apiVersion: kiln/v1\nkind: Profile\nname: child\nextends: old.yaml\n")
	p, err := spec.Load(child, spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Old OS 1 reached its end of life; use new instead"; p.Deprecated != want {
		t.Errorf("Deprecated = %q, want %q", p.Deprecated, want)
	}
	p, err = spec.Load(write(t, dir, "plain.yaml", minimal), spec.LoadOptions{})
	if err != nil || p.Deprecated != "" {
		t.Errorf("Load(no deprecated:) = %q, %v, want \"\", nil", p.Deprecated, err)
	}

	bad := write(t, dir, "bad.yaml", minimal+"deprecated: \"two\\nlines\"\n")
	_, err = spec.Load(bad, spec.LoadOptions{})
	if want := bad + `:9: deprecated: "two\nlines" is not one line of text`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v\nwant it to contain %s", err, want)
	}
}
