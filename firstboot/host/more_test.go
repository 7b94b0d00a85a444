package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/host"
)

func TestParseIgnitionRefuses(t *testing.T) {
	for _, tc := range []struct{ doc, field string }{
		{`{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/sdb"}]}}`, "ignition.storage.disks"},
		{`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/x","contents":{"source":"https://example.com/x"}}]}}`, "ignition.storage.files[0].contents"},
		{`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/x","append":[{"source":"data:,a","verification":{"hash":"sha256-0000000000000000000000000000000000000000000000000000000000000000"}}]}]}}`, "ignition.storage.files[0].append[0]"},
		{`{"ignition":{"version":"3.4.0"},"kernelArguments":{"shouldExist":["quiet"]}}`, "ignition.kernelArguments"},
		{`{"ignition":{"version":"3.4.0","config":{"merge":[{"source":"data:,%7B%7D"}]}}}`, "ignition.ignition.config"},
	} {
		_, err := host.ParseIgnition(config.Ignition(tc.doc))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("ParseIgnition(%s) = %v, want a *config.Error on %s", tc.doc, err, tc.field)
		}
	}
}

func TestIgnitionFileExists(t *testing.T) {
	root := t.TempDir()
	seed(t, root, map[string]string{"etc/site.conf": "old\n"})
	h := &host.Host{Root: root, Runner: &recorder{root: root}}
	doc := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/site.conf","contents":{"source":"data:,new%0A"}}]}}`
	if err := h.ApplyIgnition(context.Background(), config.Ignition(doc)); err == nil || !strings.Contains(err.Error(), "overwrite") {
		t.Errorf("ApplyIgnition over a different file = %v, want the overwrite error", err)
	}
	// The same contents are what an interrupted earlier run left: fine.
	os.WriteFile(filepath.Join(root, "etc/site.conf"), []byte("new\n"), 0o644)
	if err := h.ApplyIgnition(context.Background(), config.Ignition(doc)); err != nil {
		t.Errorf("ApplyIgnition over the same contents: %v", err)
	}
}

func TestHostsKeepsTheRest(t *testing.T) {
	root := t.TempDir()
	h := &host.Host{Root: root}
	c := controlPlane()
	if err := h.Hosts(host.HostsEntries(c)); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(root, "etc/hosts")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, append(data, "192.0.2.1 mine\n"...), 0o644)
	c.Cluster.ControlPlane.Peers = c.Cluster.ControlPlane.Peers[:1]
	if err := h.Hosts(host.HostsEntries(c)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f)
	for _, want := range []string{"127.0.0.1   localhost", "192.0.2.1 mine", "10.31.100.61 m1 m1.prod"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "m2") || strings.Count(string(got), "BEGIN kiln") != 1 {
		t.Errorf("/etc/hosts kept the old managed block:\n%s", got)
	}
}

func TestFirewallFor(t *testing.T) {
	c := controlPlane()
	c.Cluster.LoadBalancer.Mode = config.LBKubeVIP
	c.Cluster.ControlPlaneEndpoint.Port = 6443
	fw := host.FirewallFor(c)
	if slices.Contains(fw.Protocols, "vrrp") || slices.Index(fw.Ports, "6443/tcp") != slices.IndexFunc(fw.Ports, func(p string) bool { return p == "6443/tcp" }) {
		t.Errorf("kube-vip firewall = %+v, want no VRRP and 6443 once", fw)
	}
	n := 0
	for _, p := range fw.Ports {
		if p == "6443/tcp" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("6443/tcp listed %d times in %v", n, fw.Ports)
	}
	c.Node.Role = config.RoleWorker
	c.Cluster.CNI = config.CNICalico
	fw = host.FirewallFor(c)
	for _, want := range []string{"10250/tcp", "30000-32767/tcp", "4789/udp", "179/tcp"} {
		if !slices.Contains(fw.Ports, want) {
			t.Errorf("worker firewall %v lacks %s", fw.Ports, want)
		}
	}
	if slices.Contains(fw.Ports, "2379-2380/tcp") {
		t.Errorf("worker firewall opens etcd: %v", fw.Ports)
	}
}

func TestPrimaryInterfaceNone(t *testing.T) {
	root := t.TempDir()
	seed(t, root, map[string]string{"sys/class/net/lo/type": "772\n"})
	h := &host.Host{Root: root}
	if _, err := h.PrimaryInterface(); err == nil || !strings.Contains(err.Error(), "no Ethernet device under "+root+"/sys/class/net") {
		t.Errorf("PrimaryInterface with only lo = %v, want an error saying there is no Ethernet device", err)
	}
	// An empty root (a dry run's) says the directory is missing.
	h = &host.Host{Root: t.TempDir()}
	if _, err := h.PrimaryInterface(); err == nil || !strings.HasSuffix(err.Error(), "/sys/class/net does not exist") {
		t.Errorf("PrimaryInterface on an empty root = %v, want an error saying /sys/class/net does not exist", err)
	}
}
