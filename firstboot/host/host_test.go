package host_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/kiln-build/kiln/firstboot/command"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/host"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// recorder is a fake Runner: it records every command line and, for
// useradd, adds the user to the node's /etc/passwd as the real one would.
type recorder struct {
	root string
	cmds []string
}

func (r *recorder) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.cmds = append(r.cmds, command.Line(name, args...))
	if name == "useradd" {
		user := args[len(args)-1]
		line := fmt.Sprintf("%s:x:%d:%d::/home/%s:/bin/bash\n", user, os.Getuid(), os.Getgid(), user)
		f, err := os.OpenFile(filepath.Join(r.root, "etc/passwd"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		_, err = f.WriteString(line)
		return nil, err
	}
	return nil, nil
}

func seed(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(p, "/") {
			continue
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dump renders every file and link under root with its mode, sorted, then
// the commands run: the whole observable effect of host preparation.
func dump(t *testing.T, root string, cmds []string) []byte {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	var b bytes.Buffer
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		fi, _ := os.Lstat(p)
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, "== /%s -> %s\n", rel, target)
			continue
		}
		data, _ := os.ReadFile(p)
		if rel == "etc/passwd" {
			// The fake useradd gives the test's own ids, which differ
			// between machines.
			var out []string
			for _, l := range strings.SplitAfter(string(data), "\n") {
				if !strings.HasPrefix(l, "root:") {
					l = strings.Replace(l, fmt.Sprintf(":x:%d:%d:", os.Getuid(), os.Getgid()), ":x:UID:GID:", 1)
				}
				out = append(out, l)
			}
			data = []byte(strings.Join(out, ""))
		}
		fmt.Fprintf(&b, "== /%s (%#o)\n%s", rel, fi.Mode().Perm(), data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteString("\n")
		}
	}
	b.WriteString("== commands\n")
	for _, c := range cmds {
		b.WriteString("$ " + c + "\n")
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", path, got)
	}
}

const ignitionDoc = `{
  "ignition": {"version": "3.4.0"},
  "passwd": {"users": [{"name": "ops", "groups": ["wheel"], "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKiln ops@example"]}]},
  "storage": {
    "directories": [{"path": "/opt/site", "mode": 493}],
    "files": [
      {"path": "/etc/motd", "overwrite": true, "contents": {"source": "data:,kiln%20node%0A"}, "mode": 420},
      {"path": "/opt/site/run.sh", "contents": {"source": "data:;base64,IyEvYmluL3NoCmVjaG8gaGkK", "verification": {"hash": "sha256-299001868fb8c02fd431c336c6d058f5558c5dff5b5af5e6fe04b870a6a9cbba"}}, "mode": 493}
    ],
    "links": [{"path": "/opt/site/current", "target": "/opt/site/run.sh"}]
  },
  "systemd": {"units": [
    {"name": "site.service", "enabled": true, "contents": "[Unit]\nDescription=site\n[Service]\nExecStart=/opt/site/run.sh\n[Install]\nWantedBy=multi-user.target\n"},
    {"name": "kubelet.service", "dropins": [{"name": "10-site.conf", "contents": "[Service]\nEnvironment=SITE=1\n"}]},
    {"name": "postfix.service", "mask": true}
  ]}
}`

func controlPlane() *config.NodeConfig {
	c := &config.NodeConfig{
		Cluster: config.Cluster{
			Name:                 "prod",
			ControlPlaneEndpoint: config.ControlPlaneEndpoint{VIP: "10.31.100.100", Port: 8443, DNSName: "k8s-api.prod.example.com"},
			LoadBalancer:         config.LoadBalancer{Mode: config.LBKeepalivedHAProxy},
			Networking:           config.Networking{PodSubnet: "10.244.0.0/16"},
			ControlPlane: config.ControlPlane{Peers: []config.Peer{
				{Name: "m1", Address: "10.31.100.61"}, {Name: "m2", Address: "10.31.100.62"}, {Name: "m3", Address: "10.31.100.63"},
			}},
			CNI:        config.CNIFlannel,
			NTPServers: []string{"10.31.0.1", "ntp.example.com"},
		},
		Node: config.Node{Name: "m1", Role: config.RoleControlPlane, Network: config.Network{
			Mode: config.NetworkStatic, Address: "10.31.100.61/24", Gateway: "10.31.100.1", DNS: []string{"10.31.0.53", "10.31.0.54"},
		}},
		Hosts: []config.HostEntry{{Address: "10.31.100.101", Hostnames: []string{"w1"}}, {Address: "10.31.100.61", Hostnames: []string{"m1.prod"}}},
	}
	return c
}

// prepare runs every host step the agent runs, in its order.
func prepare(ctx context.Context, h *host.Host, c *config.NodeConfig) error {
	if len(c.Ignition) > 0 {
		if err := h.ApplyIgnition(ctx, c.Ignition); err != nil {
			return err
		}
	}
	if err := h.Hostname(ctx, c.Node.Name); err != nil {
		return err
	}
	iface := c.Node.Network.Interface
	if iface == "" {
		var err error
		if iface, err = h.PrimaryInterface(); err != nil {
			return err
		}
	}
	steps := []func() error{
		func() error { return h.Network(ctx, iface, c.Node.Network) },
		func() error { return h.Hosts(host.HostsEntries(c)) },
		func() error { return h.TimeSync(ctx, c.Cluster.NTPServers) },
		func() error { return h.SwapOff(ctx) },
		func() error { return h.KernelSettings(ctx) },
		func() error { return h.SELinux(ctx) },
		func() error { return h.Firewall(ctx, host.FirewallFor(c)) },
		func() error { return h.EnableNow(ctx, "containerd") },
		func() error { return h.ImportImages(ctx) },
		func() error { return h.EnableNow(ctx, "kubelet") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func TestPrepareGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func() *config.NodeConfig
		files map[string]string
	}{{
		name: "el9-control-plane",
		cfg: func() *config.NodeConfig {
			c := controlPlane()
			c.Ignition = config.Ignition(ignitionDoc)
			return c
		},
		files: map[string]string{
			"etc/os-release":                         "NAME=\"CentOS Stream\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n",
			"etc/NetworkManager/system-connections/": "",
			"etc/hosts":                              "127.0.0.1 localhost\n192.0.2.9 legacy\n",
			"etc/fstab":                              "UUID=1 / xfs defaults 0 0\n/dev/mapper/swap none swap defaults 0 0\n# /dev/sdb none swap defaults 0 0\n",
			"etc/chrony.conf":                        "pool 2.centos.pool.ntp.org iburst\ndriftfile /var/lib/chrony/drift\n",
			"etc/selinux/config":                     "SELINUX=permissive\nSELINUXTYPE=targeted\n",
			"etc/passwd":                             "root:x:0:0:root:/root:/bin/bash\n",
			"etc/group":                              "root:x:0:\nwheel:x:10:\n",
			"sys/fs/selinux/enforce":                 "1",
			"usr/sbin/setenforce":                    "",
			"usr/bin/firewall-offline-cmd":           "",
			"usr/sbin/NetworkManager":                "",
			"var/lib/kiln/images/flannel.tar":        "x",
			"var/lib/kiln/images/haproxy.tar":        "x",
			"var/lib/kiln/images/README":             "not an image",
			"sys/class/net/ens192/type":              "1\n",
			"sys/class/net/ens192/device/vendor":     "0x15ad\n",
			"sys/class/net/lo/type":                  "772\n",
		},
	}, {
		name: "el7-worker-dhcp",
		cfg: func() *config.NodeConfig {
			c := controlPlane()
			c.Cluster.NTPServers = nil
			c.Cluster.CNI = config.CNICalico
			c.Node = config.Node{Name: "w1", Role: config.RoleWorker, Network: config.Network{Mode: config.NetworkDHCP, DNS: []string{"10.31.0.53"}}}
			return c
		},
		files: map[string]string{
			"etc/os-release": "NAME=\"CentOS Linux\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n",
			"etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nBOOTPROTO=dhcp\n",
			"sys/class/net/eth1/type":                  "1\n",
			"sys/class/net/eth1/device/vendor":         "0x1af4\n",
			"sys/class/net/eth0/type":                  "1\n",
			"sys/class/net/eth0/device/vendor":         "0x1af4\n",
			"sys/class/net/docker0/type":               "1\n",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			seed(t, root, tc.files)
			rec := &recorder{root: root}
			var hostname string
			h := &host.Host{Root: root, Runner: rec, Sethostname: func(n string) error { hostname = n; return nil }}
			c := tc.cfg()
			if err := prepare(context.Background(), h, c); err != nil {
				t.Fatal(err)
			}
			if hostname != c.Node.Name {
				t.Errorf("sethostname(%q), want %q", hostname, c.Node.Name)
			}
			first := dump(t, root, rec.cmds)
			golden(t, tc.name, first)

			// Idempotent: a second run (a reboot before the step was
			// recorded as done) leaves the same files.
			c2 := tc.cfg()
			rec2 := &recorder{root: root}
			h.Runner = rec2
			if err := prepare(context.Background(), h, c2); err != nil {
				t.Fatalf("second run: %v", err)
			}
			again := dump(t, root, nil)
			firstFiles, _, _ := bytes.Cut(first, []byte("== commands\n"))
			againFiles, _, _ := bytes.Cut(again, []byte("== commands\n"))
			if !bytes.Equal(firstFiles, againFiles) {
				t.Errorf("second run changed files:\n%s", againFiles)
			}
		})
	}
}
