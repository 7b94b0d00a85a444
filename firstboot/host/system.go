package host

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/firstboot/config"
)

const (
	chronyBegin = "# BEGIN kiln-firstboot: time servers from the node's metadata"
	chronyEnd   = "# END kiln-firstboot"
	// commentedByKiln marks configuration lines the agent switched off, so
	// that running again does not comment them twice.
	commentedByKiln = "#kiln-firstboot# "
)

const defaultChrony = "driftfile /var/lib/chrony/drift\nmakestep 1.0 3\nrtcsync\n"

// TimeSync points chrony at servers: the image's own server and pool lines
// in /etc/chrony.conf are commented out and servers written in their place
// (a drop-in would not do: EL7's chrony reads no conf.d), then chronyd is
// enabled and restarted. No servers leaves the image's defaults alone.
func (h *Host) TimeSync(ctx context.Context, servers []string) error {
	if len(servers) == 0 {
		return nil
	}
	old, err := h.ReadFile("/etc/chrony.conf")
	if err != nil {
		if !os.IsNotExist(err) {
			return fmt.Errorf("reading /etc/chrony.conf: %w", err)
		}
		old = []byte(defaultChrony)
	}
	var kept strings.Builder
	for _, l := range strings.SplitAfter(string(old), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (f[0] == "server" || f[0] == "pool") {
			l = commentedByKiln + l
		}
		kept.WriteString(l)
	}
	var block strings.Builder
	block.WriteString(chronyBegin + "\n")
	for _, s := range servers {
		fmt.Fprintf(&block, "server %s iburst\n", s)
	}
	block.WriteString(chronyEnd + "\n")
	if err := h.WriteFile("/etc/chrony.conf", replaceBlock([]byte(kept.String()), chronyBegin, chronyEnd, block.String()), 0o644); err != nil {
		return err
	}
	if _, err := h.Run(ctx, "systemctl", "enable", "chronyd"); err != nil {
		return err
	}
	_, err = h.Run(ctx, "systemctl", "restart", "chronyd")
	return err
}

// SwapOff turns swap off now (swapoff -a) and for good: every active swap
// line of /etc/fstab is commented out. kubelet refuses to start with swap
// on unless told otherwise.
func (h *Host) SwapOff(ctx context.Context) error {
	if _, err := h.Run(ctx, "swapoff", "-a"); err != nil {
		return err
	}
	old, err := h.ReadFile("/etc/fstab")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading /etc/fstab: %w", err)
	}
	var b strings.Builder
	changed := false
	for _, l := range strings.SplitAfter(string(old), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && !strings.HasPrefix(f[0], "#") && f[2] == "swap" {
			l = commentedByKiln + l
			changed = true
		}
		b.WriteString(l)
	}
	if !changed {
		return nil
	}
	return h.WriteFile("/etc/fstab", []byte(b.String()), 0o644)
}

// The kernel settings Kubernetes needs: overlay for containerd's
// snapshotter, br_netfilter so bridged pod traffic passes iptables, and
// forwarding.
const (
	ModulesFile = "/etc/modules-load.d/kiln-kubernetes.conf"
	SysctlFile  = "/etc/sysctl.d/90-kiln-kubernetes.conf"
)

var (
	kernelModules = []string{"overlay", "br_netfilter"}
	sysctls       = []string{
		"net.bridge.bridge-nf-call-iptables = 1",
		"net.bridge.bridge-nf-call-ip6tables = 1",
		"net.ipv4.ip_forward = 1",
	}
)

// KernelSettings writes the modules and sysctls Kubernetes needs so they
// hold after a reboot, and applies them now (modprobe, sysctl --system).
func (h *Host) KernelSettings(ctx context.Context) error {
	if err := h.WriteFile(ModulesFile, []byte("# "+generatedBy+"\n"+strings.Join(kernelModules, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := h.WriteFile(SysctlFile, []byte("# "+generatedBy+"\n"+strings.Join(sysctls, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	for _, m := range kernelModules {
		if _, err := h.Run(ctx, "modprobe", m); err != nil {
			return err
		}
	}
	_, err := h.Run(ctx, "sysctl", "--system")
	return err
}

// SELinux makes the running kernel's mode agree with /etc/selinux/config:
// setenforce 1 for enforcing, setenforce 0 for permissive (or disabled,
// which cannot be reached without a reboot). Nothing happens when SELinux
// is off in the kernel (no /sys/fs/selinux/enforce) or setenforce is not
// installed.
func (h *Host) SELinux(ctx context.Context) error {
	if !h.Exists("/sys/fs/selinux/enforce") || !(h.Exists("/usr/sbin/setenforce") || h.Exists("/sbin/setenforce")) {
		return nil
	}
	data, err := h.ReadFile("/etc/selinux/config")
	if err != nil {
		return fmt.Errorf("reading /etc/selinux/config: %w", err)
	}
	mode := ""
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && k == "SELINUX" {
			mode = strings.ToLower(strings.TrimSpace(v))
		}
	}
	arg := "0"
	switch mode {
	case "enforcing":
		arg = "1"
	case "permissive", "disabled":
	default:
		return fmt.Errorf("/etc/selinux/config: SELINUX=%q is not enforcing, permissive or disabled", mode)
	}
	_, err = h.Run(ctx, "setenforce", arg)
	return err
}

// Firewall is what a node opens in firewalld.
type Firewall struct {
	Ports          []string // PORT/PROTO or FROM-TO/PROTO, in the default zone
	Protocols      []string // IP protocols by name, e.g. vrrp
	TrustedSources []string // CIDRs added to the trusted zone (the pod network)
}

// FirewallFor lists the ports of the node's role: on control planes the
// API server, etcd, kubelet, controller manager and scheduler, the load
// balancer's port and VRRP (keepalived); on workers kubelet and the
// NodePort range; on both the CNI's overlay (flannel VXLAN 8472/udp; calico
// VXLAN 4789/udp and BGP 179/tcp). The pod subnet is trusted.
func FirewallFor(c *config.NodeConfig) Firewall {
	var fw Firewall
	if c.Node.Role == config.RoleControlPlane {
		fw.Ports = append(fw.Ports, "6443/tcp", "2379-2380/tcp", "10250/tcp", "10257/tcp", "10259/tcp")
		if p := fmt.Sprintf("%d/tcp", c.Cluster.ControlPlaneEndpoint.Port); !slices.Contains(fw.Ports, p) && c.Cluster.LoadBalancer.Mode != config.LBExternal {
			fw.Ports = append(fw.Ports, p)
		}
		if c.Cluster.LoadBalancer.Mode == config.LBKeepalivedHAProxy {
			fw.Protocols = append(fw.Protocols, "vrrp")
		}
	} else {
		fw.Ports = append(fw.Ports, "10250/tcp", "30000-32767/tcp", "30000-32767/udp")
	}
	switch c.Cluster.CNI {
	case config.CNIFlannel:
		fw.Ports = append(fw.Ports, "8472/udp")
	case config.CNICalico:
		fw.Ports = append(fw.Ports, "4789/udp", "179/tcp")
	}
	fw.TrustedSources = []string{c.Cluster.Networking.PodSubnet}
	return fw
}

// Firewall opens fw with firewall-offline-cmd (which edits the permanent
// configuration whether or not firewalld runs) and reloads firewalld if it
// runs. Without firewalld installed it does nothing.
func (h *Host) Firewall(ctx context.Context, fw Firewall) error {
	if !h.Exists("/usr/bin/firewall-offline-cmd") && !h.Exists("/bin/firewall-offline-cmd") {
		return nil
	}
	var args []string
	for _, p := range fw.Ports {
		args = append(args, "--add-port="+p)
	}
	for _, p := range fw.Protocols {
		args = append(args, "--add-protocol="+p)
	}
	if len(args) > 0 {
		if _, err := h.Run(ctx, "firewall-offline-cmd", args...); err != nil {
			return err
		}
	}
	if len(fw.TrustedSources) > 0 {
		args = []string{"--zone=trusted"}
		for _, s := range fw.TrustedSources {
			args = append(args, "--add-source="+s)
		}
		if _, err := h.Run(ctx, "firewall-offline-cmd", args...); err != nil {
			return err
		}
	}
	_, err := h.Run(ctx, "systemctl", "try-reload-or-restart", "firewalld")
	return err
}

// ImagesDir is where the image build leaves container image archives
// (OCI or docker save) to preload, so first boot needs no registry.
const ImagesDir = "/var/lib/kiln/images"

// ImportImages imports every ImagesDir/*.tar into containerd's k8s.io
// namespace (the one the CRI plugin, and so kubelet, uses), in name order.
// An empty or missing directory imports nothing.
func (h *Host) ImportImages(ctx context.Context) error {
	ents, err := os.ReadDir(h.Path(ImagesDir))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing preloaded images: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".tar") {
			continue
		}
		if _, err := h.Run(ctx, "ctr", "-n", "k8s.io", "images", "import", path.Join(ImagesDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// TagImages gives imported images the further names aliases maps them from
// (NAME -> preloaded reference), in containerd's k8s.io namespace, in name
// order: kubeadm names some images itself and must find them by that name.
func (h *Host) TagImages(ctx context.Context, aliases map[string]string) error {
	names := make([]string, 0, len(aliases))
	for n := range aliases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := h.Run(ctx, "ctr", "-n", "k8s.io", "images", "tag", "--force", aliases[n], n); err != nil {
			return err
		}
	}
	return nil
}

// EnableNow enables a systemd unit and starts it.
func (h *Host) EnableNow(ctx context.Context, unit string) error {
	_, err := h.Run(ctx, "systemctl", "enable", "--now", unit)
	return err
}
