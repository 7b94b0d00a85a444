// Package host prepares a node's operating system for Kubernetes on first
// boot: Ignition files, units and users; the host name; the primary network
// interface (a NetworkManager keyfile on EL8 and later, an ifcfg file on
// EL7); /etc/hosts; chrony; swap; the kernel modules and sysctls kubelet
// needs; the SELinux runtime mode; firewalld; preloaded container images;
// and the containerd and kubelet services.
//
// Every file is read and written under Host.Root, so tests (and
// kiln-firstboot --dry-run) work on a temporary tree; every command (modprobe,
// sysctl, nmcli, systemctl, ctr, ...) goes through Host.Runner and acts on
// the live system, with the paths the node itself sees. Each method is
// idempotent: running it again after a reboot or a crash leaves the same
// files and state.
//
// Decisions the node metadata does not make:
//
//   - Firewall: when firewalld is installed (firewall-offline-cmd exists),
//     the ports of the node's role, its load balancer and its CNI are opened
//     in the default zone, VRRP is allowed with keepalived, and the pod
//     subnet is added to the trusted zone; firewalld is then reloaded if it
//     runs. An image that wants no firewall leaves firewalld out (or masks
//     it) in its profile.
//   - SELinux: the mode is the image's (/etc/selinux/config, set by the
//     profile); the agent only makes the running kernel agree with it
//     (setenforce) when SELinux is enabled.
//   - /etc/hosts: the VIP gets a line only when controlPlaneEndpoint.dnsName
//     names it.
//
// Example:
//
//	h := &host.Host{Root: "/", Runner: command.ExecRunner{}}
//	if err := h.Hostname(ctx, "m1"); err != nil {
//		return err
//	}
//	if err := h.KernelSettings(ctx); err != nil {
//		return err
//	}
package host
