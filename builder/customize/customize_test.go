package customize

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/spec"
)

type fakeRun struct{ calls []string }

func (f *fakeRun) run(_ context.Context, argv []string) error {
	f.calls = append(f.calls, strings.Join(argv, " "))
	return nil
}

func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, body := range map[string]string{
		"etc/passwd":                       "root:x:0:0:root:/root:/bin/bash\netcd:x:990:985::/var/lib/etcd:/sbin/nologin\n",
		"etc/group":                        "root:x:0:\netcd:x:985:\nwheel:x:10:\n",
		"etc/selinux/config":               "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
		"etc/machine-id":                   "0123456789abcdef0123456789abcdef\n",
		"etc/ssh/ssh_host_ed25519_key":     "secret",
		"etc/ssh/ssh_host_ed25519_key.pub": "pub",
		"etc/ssh/sshd_config":              "keep me",
		"var/lib/systemd/random-seed":      "seed",
		"var/cache/ldconfig/aux-cache":     "inodes and mtimes",
		"usr/bin/containerd":               "bin",
		"etc/containerd/config.toml":       "disabled_plugins = [\"cri\"]\n",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func profile() *spec.Profile {
	p := &spec.Profile{
		Files: []spec.File{
			{Path: "/etc/motd", Content: "welcome\n"},
			{Path: "/etc/etcd/etcd.env", Content: "X=1\n", Mode: "0640", Owner: "etcd", Group: "etcd"},
		},
		Sysctl:        map[string]string{"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"},
		KernelModules: []string{"overlay", "br_netfilter"},
		SELinux:       "permissive",
		Units:         spec.Units{Enable: []string{"kubelet.service"}, Disable: []string{"docker.service"}, Mask: []string{"firewalld.service"}},
		Images:        []spec.Image{{Ref: "registry.k8s.io/pause:3.9"}},
	}
	return p
}

func TestApply(t *testing.T) {
	root := tree(t)
	fb := filepath.Join(t.TempDir(), "kiln-firstboot")
	os.WriteFile(fb, []byte("agent"), 0o755)
	run := &fakeRun{}
	mtime := time.Unix(1700000000, 0)
	err := Apply(context.Background(), Options{Root: root, Profile: profile(), RootUUID: "0b6e3a1c-1111-2222-3333-444455556666", ESPUUID: "1A2B-3C4D", Firstboot: fb, ModTime: mtime, Run: run.run})
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return string(b)
	}
	for p, want := range map[string]string{
		"etc/motd":                                      "welcome\n",
		"etc/sysctl.d/90-kiln.conf":                     "net.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 1\n",
		"etc/modules-load.d/kiln.conf":                  "overlay\nbr_netfilter\n",
		"etc/selinux/config":                            "SELINUX=permissive\nSELINUXTYPE=targeted\n",
		"etc/fstab":                                     "UUID=0b6e3a1c-1111-2222-3333-444455556666 / ext4 defaults 0 1\nUUID=1A2B-3C4D /boot/efi vfat umask=0077,shortname=winnt 0 2\n",
		"etc/containerd/config.toml":                    "SystemdCgroup = true",
		"usr/bin/kiln-firstboot":                        "agent",
		"usr/lib/systemd/system/kiln-firstboot.service": "ConditionPathExists=!/var/lib/kiln/done",
		"etc/ssh/sshd_config":                           "keep me",
	} {
		if got := read(p); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", p, got, want)
		}
	}
	if got := read("etc/containerd/config.toml"); !strings.Contains(got, `sandbox_image = "registry.k8s.io/pause:3.9"`) || strings.Contains(got, "disabled_plugins") {
		t.Errorf("containerd config:\n%s", got)
	}
	if strings.Contains(read("etc/fstab"), "swap") {
		t.Error("fstab has swap")
	}
	st, err := os.Stat(filepath.Join(root, "etc/etcd/etcd.env"))
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o640 || sys.Uid != 990 || sys.Gid != 985 || !st.ModTime().Equal(mtime) {
		t.Errorf("etcd.env: mode %v uid %d gid %d mtime %v", st.Mode(), sys.Uid, sys.Gid, st.ModTime())
	}
	if mid, err := os.Stat(filepath.Join(root, "etc/machine-id")); err != nil || mid.Size() != 0 {
		t.Errorf("machine-id not emptied: %v %v", mid, err)
	}
	for _, gone := range []string{"etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub", "var/lib/systemd/random-seed", "var/cache/ldconfig/aux-cache"} {
		if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still there", gone)
		}
	}
	want := []string{
		"systemctl enable kiln-firstboot.service kubelet.service",
		"systemctl disable docker.service",
		"systemctl mask swap.target firewalld.service",
	}
	if strings.Join(run.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands run in the tree:\n%s\nwant:\n%s", strings.Join(run.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestApplyNamesTheBadFileOwner(t *testing.T) {
	root := tree(t)
	fb := filepath.Join(t.TempDir(), "fb")
	os.WriteFile(fb, nil, 0o755)
	p := profile()
	p.Files[1].Owner = "kube"
	err := Apply(context.Background(), Options{Root: root, Profile: p, Firstboot: fb, Run: (&fakeRun{}).run})
	if err == nil || !strings.Contains(err.Error(), `customizing files: files[1] (/etc/etcd/etcd.env): owner "kube" is not a user in the image's /etc/passwd`) {
		t.Errorf("Apply() = %v", err)
	}
}

func TestUsersAndRelabelUseTheImagesTools(t *testing.T) {
	root := tree(t)
	os.MkdirAll(filepath.Join(root, "etc/selinux/targeted/contexts/files"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/selinux/targeted/contexts/files/file_contexts"), nil, 0o644)
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/sbin/setfiles"), nil, 0o755)
	fb := filepath.Join(t.TempDir(), "fb")
	os.WriteFile(fb, nil, 0o755)
	p := profile()
	p.Units = spec.Units{}
	p.Users = []spec.User{{Name: "ops", Groups: []string{"wheel"}, SSHAuthorizedKeys: []string{"ssh-ed25519 AAAAC3Nza ops@example"}, Sudo: true}}
	run := &fakeRun{}
	// useradd is faked: add the user to the image's passwd as it would.
	runner := func(ctx context.Context, argv []string) error {
		if argv[0] == "useradd" {
			f, _ := os.OpenFile(filepath.Join(root, "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("ops:x:1000:1000::/home/ops:/bin/bash\n")
			f.Close()
			g, _ := os.OpenFile(filepath.Join(root, "etc/group"), os.O_APPEND|os.O_WRONLY, 0)
			g.WriteString("ops:x:1000:\n")
			g.Close()
		}
		return run.run(ctx, argv)
	}
	if err := Apply(context.Background(), Options{Root: root, Profile: p, Firstboot: fb, Run: runner}); err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(run.calls, "\n")
	for _, want := range []string{"useradd --create-home --user-group --groups wheel ops", "setfiles -F", "/etc/selinux/targeted/contexts/files/file_contexts /"} {
		if !strings.Contains(calls, want) {
			t.Errorf("commands lack %q:\n%s", want, calls)
		}
	}
	st, err := os.Stat(filepath.Join(root, "home/ops/.ssh/authorized_keys"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("authorized_keys: %v %v", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/sudoers.d/90-kiln-ops")); string(b) != "ops ALL=(ALL) NOPASSWD: ALL\n" {
		t.Errorf("sudoers: %q", b)
	}
}

// The build's derived pause image (kubeadm's) wins over a pause image of images[]: the
// sandbox containerd runs must be the one kubeadm expects.
func TestContainerdSandboxIsTheDerivedPause(t *testing.T) {
	for _, tc := range []struct{ name, sandbox, want string }{
		{"derived", "registry.k8s.io/pause:3.10.1", `sandbox_image = "registry.k8s.io/pause:3.10.1"`},
		{"from images[]", "", `sandbox_image = "registry.k8s.io/pause:3.9"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t)
			o := Options{Root: root, Profile: profile(), SandboxImage: tc.sandbox}
			if err := writeContainerd(o); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(root, "etc/containerd/config.toml"))
			if !strings.Contains(string(got), tc.want) {
				t.Errorf("config.toml:\n%s\nwant %s", got, tc.want)
			}
		})
	}
}
