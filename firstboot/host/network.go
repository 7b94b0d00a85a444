package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/firstboot/config"
)

// NetworkBackend is how an image configures its network.
type NetworkBackend string

// The backends.
const (
	// BackendKeyfile is NetworkManager's keyfile format, the native one on
	// EL8 and later: /etc/NetworkManager/system-connections/NAME.nmconnection.
	BackendKeyfile NetworkBackend = "keyfile"
	// BackendIfcfg is the initscripts format EL7 reads (through
	// NetworkManager's ifcfg-rh plugin, or the network service):
	// /etc/sysconfig/network-scripts/ifcfg-IFACE.
	BackendIfcfg NetworkBackend = "ifcfg"
)

// OSRelease holds the fields of /etc/os-release the agent looks at.
type OSRelease struct {
	ID, IDLike, VersionID string
}

// ReadOSRelease reads /etc/os-release (or /usr/lib/os-release); a missing
// file gives the zero value.
func (h *Host) ReadOSRelease() OSRelease {
	var r OSRelease
	data, err := h.ReadFile("/etc/os-release")
	if err != nil {
		if data, err = h.ReadFile("/usr/lib/os-release"); err != nil {
			return r
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			r.ID = v
		case "ID_LIKE":
			r.IDLike = v
		case "VERSION_ID":
			r.VersionID = v
		}
	}
	return r
}

// EL7 reports whether the release is Enterprise Linux 7 (CentOS 7, RHEL 7
// and rebuilds).
func (r OSRelease) EL7() bool {
	el := r.ID == "rhel" || r.ID == "centos" || slices.Contains(strings.Fields(r.IDLike), "rhel")
	major, _, _ := strings.Cut(r.VersionID, ".")
	return el && major == "7"
}

// NetworkBackend decides how the image wants its network configured: ifcfg
// on EL7 (or, with no os-release, when the image has network-scripts and no
// NetworkManager keyfile directory), the NetworkManager keyfile otherwise.
func (h *Host) NetworkBackend() NetworkBackend {
	r := h.ReadOSRelease()
	if r.EL7() {
		return BackendIfcfg
	}
	if r.ID == "" && h.Exists("/etc/sysconfig/network-scripts") && !h.Exists("/etc/NetworkManager/system-connections") {
		return BackendIfcfg
	}
	return BackendKeyfile
}

// PrimaryInterface returns the first Ethernet interface in
// /sys/class/net, by name: a link of type 1 (ARPHRD_ETHER) backed by a
// device (so not a bridge, veth or bond made by software).
func (h *Host) PrimaryInterface() (string, error) {
	dir := h.Path("/sys/class/net")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("finding the network interface: %s does not exist", dir)
	}
	if err != nil {
		return "", fmt.Errorf("finding the network interface: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		typ, err := os.ReadFile(filepath.Join(dir, n, "type"))
		if err != nil || strings.TrimSpace(string(typ)) != "1" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, n, "device")); err != nil {
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("finding the network interface: no Ethernet device under %s", dir)
	}
	slices.Sort(names)
	return names[0], nil
}

// ConnectionName is the NetworkManager connection kiln writes for iface.
func ConnectionName(iface string) string { return "kiln-" + iface }

// Network writes the configuration of the node's interface iface (static
// or DHCP, with the DNS servers of n) in the image's format, then makes it
// current: nmcli connection reload and up, or, on EL7 without
// NetworkManager, a restart of the network service.
func (h *Host) Network(ctx context.Context, iface string, n config.Network) error {
	backend := h.NetworkBackend()
	var path string
	var data []byte
	var err error
	switch backend {
	case BackendIfcfg:
		path = "/etc/sysconfig/network-scripts/ifcfg-" + iface
		data, err = Ifcfg(iface, n)
	default:
		path = "/etc/NetworkManager/system-connections/" + ConnectionName(iface) + ".nmconnection"
		data, err = Keyfile(iface, n)
	}
	if err != nil {
		return err
	}
	// NetworkManager refuses keyfiles other users can read; ifcfg files
	// hold nothing secret.
	mode := os.FileMode(0o600)
	if backend == BackendIfcfg {
		mode = 0o644
	}
	if err := h.WriteFile(path, data, mode); err != nil {
		return err
	}
	if backend == BackendIfcfg && !h.Exists("/usr/sbin/NetworkManager") {
		_, err := h.Run(ctx, "systemctl", "restart", "network")
		return err
	}
	if _, err := h.Run(ctx, "nmcli", "connection", "reload"); err != nil {
		return err
	}
	_, err = h.Run(ctx, "nmcli", "connection", "up", ConnectionName(iface))
	return err
}

const generatedBy = "Written by kiln-firstboot from the node's metadata."

// Keyfile renders a NetworkManager keyfile for iface.
func Keyfile(iface string, n config.Network) ([]byte, error) {
	var b bytes.Buffer
	name := ConnectionName(iface)
	fmt.Fprintf(&b, "# %s\n[connection]\nid=%s\nuuid=%s\ntype=ethernet\ninterface-name=%s\nautoconnect=true\nautoconnect-priority=100\n\n[ethernet]\n\n[ipv4]\n",
		generatedBy, name, connectionUUID(name), iface)
	switch n.Mode {
	case config.NetworkStatic:
		pfx, err := netip.ParsePrefix(n.Address)
		if err != nil {
			return nil, fmt.Errorf("node.network.address: %q is not ADDRESS/PREFIX", n.Address)
		}
		b.WriteString("method=manual\n")
		if n.Gateway != "" {
			fmt.Fprintf(&b, "address1=%s,%s\n", pfx, n.Gateway)
		} else {
			fmt.Fprintf(&b, "address1=%s\n", pfx)
		}
	default:
		b.WriteString("method=auto\n")
		if len(n.DNS) > 0 {
			b.WriteString("ignore-auto-dns=true\n")
		}
	}
	if len(n.DNS) > 0 {
		fmt.Fprintf(&b, "dns=%s;\n", strings.Join(n.DNS, ";"))
	}
	b.WriteString("\n[ipv6]\nmethod=ignore\n")
	return b.Bytes(), nil
}

// Ifcfg renders an initscripts ifcfg file for iface.
func Ifcfg(iface string, n config.Network) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\nNAME=%s\nDEVICE=%s\nTYPE=Ethernet\nONBOOT=yes\n", generatedBy, ConnectionName(iface), iface)
	switch n.Mode {
	case config.NetworkStatic:
		pfx, err := netip.ParsePrefix(n.Address)
		if err != nil {
			return nil, fmt.Errorf("node.network.address: %q is not ADDRESS/PREFIX", n.Address)
		}
		fmt.Fprintf(&b, "BOOTPROTO=none\nIPADDR=%s\nPREFIX=%d\n", pfx.Addr(), pfx.Bits())
		if n.Gateway != "" {
			fmt.Fprintf(&b, "GATEWAY=%s\nDEFROUTE=yes\n", n.Gateway)
		}
	default:
		b.WriteString("BOOTPROTO=dhcp\n")
		if len(n.DNS) > 0 {
			b.WriteString("PEERDNS=no\n")
		}
	}
	for i, d := range n.DNS {
		fmt.Fprintf(&b, "DNS%d=%s\n", i+1, d)
	}
	b.WriteString("IPV6INIT=no\n")
	return b.Bytes(), nil
}

// connectionUUID derives a stable UUID (version 5 layout) from the
// connection name, so the same metadata always writes the same file.
func connectionUUID(name string) string {
	sum := sha256.Sum256([]byte("kiln-firstboot connection " + name))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// hostsBegin and hostsEnd delimit the part of /etc/hosts the agent owns.
const (
	hostsBegin = "# BEGIN kiln-firstboot: managed, edits between these lines are replaced"
	hostsEnd   = "# END kiln-firstboot"
)

const defaultHosts = "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n" +
	"::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n"

// HostsEntries lists the /etc/hosts lines a node needs: the VIP under
// controlPlaneEndpoint.dnsName (when there is one), every control-plane
// peer, the node itself when its address is static, then the metadata's
// extra hosts. Names given to one address are merged into one line.
func HostsEntries(c *config.NodeConfig) []config.HostEntry {
	var out []config.HostEntry
	add := func(addr string, names ...string) {
		for i := range out {
			if out[i].Address == addr {
				for _, n := range names {
					if !slices.Contains(out[i].Hostnames, n) {
						out[i].Hostnames = append(out[i].Hostnames, n)
					}
				}
				return
			}
		}
		out = append(out, config.HostEntry{Address: addr, Hostnames: slices.Clone(names)})
	}
	ep := c.Cluster.ControlPlaneEndpoint
	if ep.DNSName != "" {
		add(ep.VIP, ep.DNSName)
	}
	for _, p := range c.Cluster.ControlPlane.Peers {
		add(p.Address, p.Name)
	}
	if pfx, err := netip.ParsePrefix(c.Node.Network.Address); err == nil {
		add(pfx.Addr().String(), c.Node.Name)
	}
	for _, e := range c.Hosts {
		add(e.Address, e.Hostnames...)
	}
	return out
}

// Hosts writes entries into /etc/hosts between kiln's markers, keeping the
// rest of the file (a missing file starts from the localhost lines).
func (h *Host) Hosts(entries []config.HostEntry) error {
	old, err := h.ReadFile("/etc/hosts")
	if err != nil {
		if !os.IsNotExist(err) {
			return fmt.Errorf("reading /etc/hosts: %w", err)
		}
		old = []byte(defaultHosts)
	}
	var block strings.Builder
	block.WriteString(hostsBegin + "\n")
	for _, e := range entries {
		fmt.Fprintf(&block, "%s %s\n", e.Address, strings.Join(e.Hostnames, " "))
	}
	block.WriteString(hostsEnd + "\n")
	return h.WriteFile("/etc/hosts", replaceBlock(old, hostsBegin, hostsEnd, block.String()), 0o644)
}

// replaceBlock replaces the lines from begin to end (inclusive) in text
// with block, or appends block when the markers are not there.
func replaceBlock(text []byte, begin, end, block string) []byte {
	lines := strings.SplitAfter(string(text), "\n")
	var out strings.Builder
	in, done := false, false
	for _, l := range lines {
		t := strings.TrimRight(l, "\n")
		switch {
		case !in && !done && t == begin:
			in = true
		case in && t == end:
			in, done = false, true
			out.WriteString(block)
		case in:
		default:
			out.WriteString(l)
		}
	}
	if !done {
		s := out.String()
		out.Reset()
		out.WriteString(s)
		if s != "" && !strings.HasSuffix(s, "\n") {
			out.WriteString("\n")
		}
		out.WriteString(block)
	}
	return []byte(out.String())
}
