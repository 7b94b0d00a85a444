package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/firstboot/certrenew"
	"github.com/kiln-build/kiln/firstboot/cni"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
	"github.com/kiln-build/kiln/firstboot/host"
	"github.com/kiln-build/kiln/firstboot/imageset"
	"github.com/kiln-build/kiln/firstboot/kubeadm"
	"github.com/kiln-build/kiln/firstboot/lb"
)

// Files the plan writes and commands read, as the node sees them.
const (
	KubeadmConfig  = "/etc/kubernetes/kubeadm-config.yaml"
	AdminConf      = "/etc/kubernetes/admin.conf"
	KubeletConf    = "/etc/kubernetes/kubelet.conf"
	APIServerPod   = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	PKIDir         = "/etc/kubernetes/pki"
	CNIManifest    = "/etc/kiln/cni.yaml"
	apiServerPort  = 6443
	manifestsCheck = "DirAvailable--etc-kubernetes-manifests"
)

// plan derives the node's facts and lists its steps, in order. See the
// package documentation for the plan of each role.
func (a *Agent) plan() ([]step, error) {
	c := a.cfg
	n := &a.n
	set, err := imageset.Read(a.opts.Root)
	if err != nil {
		return nil, fmt.Errorf("the image's container image set: %w", err)
	}
	a.images = set
	n.bootstrap = c.Node.Role == config.RoleControlPlane && c.Cluster.ControlPlane.Peers[0].Name == c.Node.Name
	n.iface = c.Node.Network.Interface
	if n.iface == "" {
		n.iface = a.opts.Interface
	}
	if n.iface == "" {
		var err error
		if n.iface, err = a.host.PrimaryInterface(); err != nil {
			// Not a metadata mistake: the machine (or a dry run's root)
			// has no Ethernet device to find.
			hint := "name it in node.network.interface"
			if a.opts.DryRun {
				hint = "a dry run finds it under the root's /sys/class/net: give --interface NAME, or name it in node.network.interface"
			}
			return nil, &Failure{Step: "plan", Err: err, Hint: hint}
		}
	}
	if c.Node.Role == config.RoleControlPlane {
		for _, p := range c.Cluster.ControlPlane.Peers {
			if p.Name == c.Node.Name {
				n.addr = p.Address
			}
		}
	} else if pfx, err := netip.ParsePrefix(c.Node.Network.Address); err == nil {
		n.addr = pfx.Addr().String()
	}
	ep := c.Cluster.ControlPlaneEndpoint
	n.endpoint = net.JoinHostPort(ep.VIP, strconv.Itoa(ep.Port))
	n.lbIface = c.Cluster.LoadBalancer.Interface
	if n.lbIface == "" {
		n.lbIface = n.iface
	}

	h := a.host
	var steps []step
	add := func(s step) { steps = append(steps, s) }
	hostStep := func(name, msg string, do func(ctx context.Context) error) {
		add(step{name: name, phase: config.PhaseHost, msg: msg, do: do})
	}
	if len(c.Ignition) > 0 {
		hostStep("ignition", "applying the Ignition config (users, files, units)", func(ctx context.Context) error {
			return h.ApplyIgnition(ctx, c.Ignition)
		})
	}
	hostStep("hostname", "setting the host name to "+c.Node.Name, func(ctx context.Context) error {
		return h.Hostname(ctx, c.Node.Name)
	})
	hostStep("network", fmt.Sprintf("configuring %s (%s)", n.iface, c.Node.Network.Mode), func(ctx context.Context) error {
		return h.Network(ctx, n.iface, c.Node.Network)
	})
	if n.addr != "" {
		want := netip.MustParseAddr(n.addr)
		add(step{name: "address", phase: config.PhaseHost, msg: "waiting for " + n.addr + " on " + n.iface, attempts: 1,
			hint: "the node does not hold the address its metadata gives it: check node.network and, with DHCP, the lease",
			do: func(ctx context.Context) error {
				return a.waitFor(ctx, n.addr+" on "+n.iface, a.lim.WaitAddress, func(context.Context) error {
					m, err := a.addrs()
					if err != nil {
						return err
					}
					if slices.Contains(m[n.iface], want) {
						return nil
					}
					for _, as := range m {
						if slices.Contains(as, want) {
							return nil
						}
					}
					return fmt.Errorf("the node holds %v", m)
				})
			}})
	}
	hostStep("hosts", "writing /etc/hosts", func(context.Context) error {
		return h.Hosts(host.HostsEntries(c))
	})
	if len(c.Cluster.NTPServers) > 0 {
		hostStep("time", "pointing chrony at "+strings.Join(c.Cluster.NTPServers, ", "), func(ctx context.Context) error {
			return h.TimeSync(ctx, c.Cluster.NTPServers)
		})
	}
	hostStep("swap", "turning swap off", h.SwapOff)
	hostStep("kernel", "loading overlay and br_netfilter, setting the Kubernetes sysctls", h.KernelSettings)
	hostStep("selinux", "applying the image's SELinux mode", h.SELinux)
	hostStep("firewall", "opening the Kubernetes ports in firewalld", func(ctx context.Context) error {
		return h.Firewall(ctx, host.FirewallFor(c))
	})
	hostStep("containerd", "starting containerd", func(ctx context.Context) error { return h.EnableNow(ctx, "containerd") })
	hostStep("images", "importing the preloaded container images", h.ImportImages)
	if set != nil && len(set.Aliases) > 0 {
		hostStep("image-names", "naming preloaded images as kubeadm asks for them", func(ctx context.Context) error {
			return h.TagImages(ctx, set.Aliases)
		})
	}
	hostStep("kubelet", "enabling kubelet", func(ctx context.Context) error { return h.EnableNow(ctx, "kubelet") })
	add(step{name: "kubeadm-version", phase: config.PhaseHost, msg: "checking kubeadm is " + c.Cluster.KubernetesVersion,
		hint: "boot an image built for Kubernetes " + c.Cluster.KubernetesVersion + ", or fix cluster.kubernetesVersion",
		do:   a.checkKubeadmVersion})

	lbMode := c.Cluster.LoadBalancer.Mode
	if c.Node.Role == config.RoleControlPlane && lbMode != config.LBExternal {
		add(step{name: "load-balancer", phase: config.PhaseLoadBalancer, msg: "writing the " + string(lbMode) + " static pods for " + n.endpoint,
			do: func(context.Context) error { return a.writeLoadBalancer(n.bootstrap) }})
	}

	kubectl := func(args ...string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := h.Run(ctx, "kubectl", append([]string{"--kubeconfig", AdminConf}, args...)...)
			return err
		}
	}
	if n.bootstrap {
		add(step{name: "existing-cluster", phase: config.PhaseInit, msg: "checking that no cluster answers at " + n.endpoint + " or on the other control planes before kubeadm init", attempts: 1,
			hint: "a control plane did not answer: boot every control plane in cluster.controlPlane.peers (or make it reachable from this node); the first one initializes the cluster only when it can tell that none exists",
			do:   a.checkExistingCluster})
		add(step{name: "init", phase: config.PhaseInit, msg: "kubeadm init (first control plane; endpoint " + n.endpoint + "), or join the cluster found in the previous step",
			attempts: a.lim.JoinAttempts,
			do: func(ctx context.Context) error {
				if a.state.JoinExisting != "" {
					return a.joinAttempt(ctx)
				}
				return a.initAttempt(ctx)
			},
			onRetry: func(ctx context.Context) error {
				if a.state.JoinExisting == "" {
					return nil // initAttempt decides itself what to reset
				}
				_, err := h.Run(ctx, "kubeadm", "reset", "-f")
				return err
			},
			hint: "see `journalctl -u kiln-firstboot` and `crictl ps -a`; kiln-firstboot resumes where it stopped on the next boot"})
		if lbMode == config.LBKubeVIP {
			if kc, _ := lb.KubeVIPKubeconfig(c.Cluster.KubernetesVersion, true); kc == lb.SuperAdminKubeconfig {
				add(step{name: "kube-vip-admin", phase: config.PhaseInit, msg: "switching kube-vip from super-admin.conf to admin.conf",
					do: func(context.Context) error { return a.writeLoadBalancer(false) }})
			}
		}
		if c.Cluster.CNI != config.CNINone {
			add(step{name: "cni", phase: config.PhaseCNI, msg: "applying the " + string(c.Cluster.CNI) + " pod network", attempts: 1,
				do: func(ctx context.Context) error {
					if a.state.JoinExisting != "" {
						return nil // the cluster it joined has its pod network
					}
					m, err := cni.ManifestWith(cni.Plugin(c.Cluster.CNI), c.Cluster.Networking.PodSubnet, a.cniImages())
					if err != nil {
						return permanent(err)
					}
					if err := h.WriteFile(CNIManifest, m, 0o644); err != nil {
						return err
					}
					return a.waitFor(ctx, "kubectl apply of the pod network", a.lim.WaitAPIServer, kubectl("apply", "-f", CNIManifest))
				}})
		}
	} else {
		if c.Node.Role == config.RoleWorker && c.Cluster.Secrets.NodeCredential != nil {
			add(step{name: "credential", phase: config.PhaseJoin, msg: "checking the join credential for " + credential.User(c.Node.Name) + " has not expired", attempts: 1,
				hint: "a worker joins with a credential made for it that expires; make a new one",
				do:   func(context.Context) error { return a.checkCredential() }})
		}
		add(step{name: "endpoint", phase: config.PhaseJoin, msg: "waiting for the control plane at https://" + n.endpoint + "/healthz", attempts: 1,
			hint: "the control-plane endpoint never answered: check the first control plane (" + c.Cluster.ControlPlane.Peers[0].Name + ") and its status, and that " + n.endpoint + " is reachable from this node",
			do: func(ctx context.Context) error {
				if err := a.waitFor(ctx, "https://"+n.endpoint+"/healthz", a.lim.WaitEndpoint, func(ctx context.Context) error {
					return a.health.Healthy(ctx, n.endpoint)
				}); err != nil {
					return err
				}
				a.state.mark(config.MilestoneAPIReady, a.clock.Now())
				return nil
			}})
		what := "kubeadm join (worker)"
		if c.Node.Role == config.RoleControlPlane {
			what = "kubeadm join (control plane; one at a time, retried while etcd refuses)"
		}
		add(step{name: "join", phase: config.PhaseJoin, msg: what, attempts: a.lim.JoinAttempts, do: a.joinAttempt,
			onRetry: func(ctx context.Context) error { _, err := h.Run(ctx, "kubeadm", "reset", "-f"); return err },
			hint:    "see `journalctl -u kiln-firstboot`; the node resets and retries on the next boot"})
	}

	if c.Node.Role == config.RoleControlPlane {
		index := slices.IndexFunc(c.Cluster.ControlPlane.Peers, func(p config.Peer) bool { return p.Name == c.Node.Name })
		add(step{name: "cert-renewal", phase: phaseOf(n.bootstrap), msg: "installing the daily certificate renewal (" + certrenew.TimerUnit + ")",
			do: func(ctx context.Context) error {
				for _, f := range certrenew.Units(index) {
					if err := h.WriteFile(f.Path, f.Data, f.Mode); err != nil {
						return err
					}
				}
				_, err := h.Run(ctx, "systemctl", "enable", "--now", certrenew.TimerUnit)
				return err
			}})
	}

	if c.Cluster.CNI == config.CNINone {
		// No pod network yet: the node stays NotReady until one is
		// installed, which is not the agent's to wait for.
		return steps, nil
	}
	kubeconfig := AdminConf
	if c.Node.Role == config.RoleWorker {
		kubeconfig = KubeletConf // the node authorizer lets a kubelet read its own Node
	}
	add(step{name: "ready", phase: config.PhaseReady, msg: "waiting for node " + c.Node.Name + " to be Ready", attempts: 1,
		hint: "the node joined but is not Ready: check the pod network (`kubectl -n kube-system get pods -o wide`) and kubelet (`journalctl -u kubelet`)",
		do: func(ctx context.Context) error {
			if err := a.waitFor(ctx, "node "+c.Node.Name+" Ready", a.lim.WaitReady, func(ctx context.Context) error {
				out, err := h.Run(ctx, "kubectl", "--kubeconfig", kubeconfig, "get", "node", c.Node.Name,
					"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
				if err != nil {
					return err
				}
				if s := strings.TrimSpace(string(out)); s != "True" {
					return fmt.Errorf("Ready is %q", s)
				}
				return nil
			}); err != nil {
				return err
			}
			a.state.mark(config.MilestoneNodeReady, a.clock.Now())
			return nil
		}})
	return steps, nil
}

// phaseOf is the phase of the control plane's kubeadm step.
func phaseOf(bootstrap bool) config.Phase {
	if bootstrap {
		return config.PhaseInit
	}
	return config.PhaseJoin
}

// checkKubeadmVersion compares the image's kubeadm with the cluster's
// Kubernetes version. A dry run (no output) skips the comparison.
func (a *Agent) checkKubeadmVersion(ctx context.Context) error {
	out, err := a.host.Run(ctx, "kubeadm", "version", "-o", "short")
	if err != nil {
		return err
	}
	got := strings.TrimSpace(string(out))
	if got == "" && a.opts.DryRun {
		return nil
	}
	if want := a.cfg.Cluster.KubernetesVersion; got != want {
		return permanent(fmt.Errorf("cluster.kubernetesVersion is %s but the image has kubeadm %q", want, got))
	}
	return nil
}

// initAttempt runs kubeadm init, never over a control plane an earlier
// attempt (or an earlier boot) brought up:
//
//   - kube-apiserver's static pod exists: an earlier init reached its
//     control-plane phase, so the API server may have run and nodes may have
//     joined. Never reset: start kubelet, wait for the local API server and
//     run init's remaining phases, which are idempotent.
//   - otherwise, leftovers (admin.conf, kubelet.conf, the etcd pod) are
//     from an init that stopped before any API server ran, so no node can
//     depend on it: kubeadm reset -f, then init from the start.
func (a *Agent) initAttempt(ctx context.Context) error {
	h := a.host
	if h.Exists(APIServerPod) {
		return a.finishInit(ctx)
	}
	if h.Exists(AdminConf) || h.Exists(KubeletConf) || h.Exists("/etc/kubernetes/manifests/etcd.yaml") {
		if _, err := h.Run(ctx, "kubeadm", "reset", "-f"); err != nil {
			return err
		}
	}
	if err := a.refuseForeignEtcdData(); err != nil {
		return err
	}
	if err := a.prepareKubeadm(kubeadm.RoleInit); err != nil {
		return err
	}
	if _, err := h.Run(ctx, "kubeadm", "init", "--config", KubeadmConfig); err != nil {
		return err
	}
	a.state.mark(config.MilestoneAPIReady, a.clock.Now()) // kubeadm init waits for the API server
	return nil
}

// finishInit completes an init whose control plane exists.
func (a *Agent) finishInit(ctx context.Context) error {
	h := a.host
	a.log.Info("kubeadm init reached the control plane before; finishing it instead of running it again")
	if err := a.prepareKubeadm(kubeadm.RoleInit); err != nil { // the same config, for the phases
		return err
	}
	if _, err := h.Run(ctx, "kubeadm", "init", "phase", "kubelet-start", "--config", KubeadmConfig); err != nil {
		return err
	}
	local := net.JoinHostPort(a.n.addr, strconv.Itoa(apiServerPort))
	if err := a.waitFor(ctx, "this node's API server https://"+local+"/healthz", a.lim.WaitAPIServer, func(ctx context.Context) error {
		return a.health.Healthy(ctx, local)
	}); err != nil {
		return permanent(fmt.Errorf("%w; kubeadm init was interrupted after starting the control plane and it does not come back. If no other node joined, run `kubeadm reset -f; rm %s` and reboot", err, StateFile))
	}
	a.state.mark(config.MilestoneAPIReady, a.clock.Now())
	for _, phase := range [][]string{{"upload-config", "all"}, {"mark-control-plane"}, {"bootstrap-token"}, {"addon", "all"}} {
		args := append(append([]string{"init", "phase"}, phase...), "--config", KubeadmConfig)
		if _, err := h.Run(ctx, "kubeadm", args...); err != nil {
			return err
		}
	}
	return nil
}

// joinAttempt runs kubeadm join. Leftovers of an earlier join (kubelet.conf)
// mean either a join that finished before the agent could record it (a
// worker's kubelet is bootstrapped; a control plane's API server answers)
// or a half-done one, which is reset first.
func (a *Agent) joinAttempt(ctx context.Context) error {
	h := a.host
	cp := a.cfg.Node.Role == config.RoleControlPlane
	if h.Exists(KubeletConf) {
		if !cp {
			return nil
		}
		local := net.JoinHostPort(a.n.addr, strconv.Itoa(apiServerPort))
		if err := a.waitFor(ctx, "this node's API server", a.lim.WaitAPIServer, func(ctx context.Context) error {
			return a.health.Healthy(ctx, local)
		}); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := h.Run(ctx, "kubeadm", "reset", "-f"); err != nil {
			return err
		}
	}
	role := kubeadm.RoleJoinWorker
	if cp {
		role = kubeadm.RoleJoinControlPlane
	}
	if err := a.prepareKubeadm(role); err != nil {
		return err
	}
	if _, err := h.Run(ctx, "kubeadm", "join", "--config", KubeadmConfig); err != nil {
		return err
	}
	// Spent: the kubelet now holds a certificate the cluster issued.
	return a.removeJoinKubeconfig(ctx)
}

// prepareKubeadm writes what kubeadm needs on the node before init or join,
// again on every attempt because kubeadm reset removes it: the cluster's
// CAs and service-account keys (control planes), the load balancer's
// static pods (control planes) and the kubeadm configuration.
func (a *Agent) prepareKubeadm(role kubeadm.Role) error {
	if role != kubeadm.RoleJoinWorker {
		if err := a.writePKI(); err != nil {
			return err
		}
		if err := a.writeProbePatches(); err != nil {
			return err
		}
		if a.cfg.Cluster.LoadBalancer.Mode != config.LBExternal {
			if err := a.writeLoadBalancer(role == kubeadm.RoleInit); err != nil {
				return err
			}
		}
	}
	if role != kubeadm.RoleInit && a.usesJoinKubeconfig() {
		if err := a.writeJoinKubeconfig(); err != nil {
			return err
		}
	}
	data, err := kubeadm.Render(a.kubeadmParams(role))
	if err != nil {
		return permanent(fmt.Errorf("rendering the kubeadm configuration: %w", err))
	}
	return a.host.WriteFile(KubeadmConfig, data, 0o600) // it may hold a bootstrap token
}

// PatchesDir holds the kubeadm patches the agent writes for a control
// plane (cluster.controlPlane.probes); kubeadm reset leaves it alone.
const PatchesDir = "/etc/kubernetes/kiln-patches"

// writeProbePatches writes the static pods' probe patches when the
// metadata loosens them.
func (a *Agent) writeProbePatches() error {
	pr := a.cfg.Cluster.ControlPlane.Probes
	if pr == nil {
		return nil
	}
	files := kubeadm.Probes{TimeoutSeconds: pr.TimeoutSeconds, LivenessFailureThreshold: pr.LivenessFailureThreshold,
		StartupFailureThreshold: pr.StartupFailureThreshold}.Patches()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := a.host.WriteFile(PatchesDir+"/"+name, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// controlPlaneTimeout is how long kubeadm waits for a new control plane's
// components to report healthy. kubeadm's default of 4 minutes assumes a
// quick host; at first boot nobody is waiting, and a timed-out init costs
// a reset and a second init, so the agent waits longer. (Under software
// emulation an API server took 4m16s to serve an authorized /livez, and
// kubeadm init failed although nothing was wrong.) A control plane that
// is really broken is still reported, 10 minutes in.
const controlPlaneTimeout = 10 * time.Minute

func (a *Agent) kubeadmParams(role kubeadm.Role) kubeadm.Params {
	c := a.cfg
	p := kubeadm.Params{
		Role:                 role,
		KubernetesVersion:    c.Cluster.KubernetesVersion,
		ClusterName:          c.Cluster.Name,
		ControlPlaneEndpoint: a.n.endpoint,
		NodeName:             c.Node.Name,
		PodSubnet:            c.Cluster.Networking.PodSubnet,
		ServiceSubnet:        c.Cluster.Networking.ServiceSubnet,
		DNSDomain:            c.Cluster.Networking.DNSDomain,
		NodeLabels:           c.Node.Labels,
	}
	switch {
	case role == kubeadm.RoleInit:
		p.BootstrapToken = c.Cluster.Secrets.BootstrapToken // kubeadm's 24h TTL; none: kubeadm makes one
	case a.usesJoinKubeconfig():
		p.DiscoveryFile = JoinKubeconfig
	default: // a worker given a token made by hand
		p.BootstrapToken = c.Cluster.Secrets.BootstrapToken
		p.CACertHashes = []string{c.Cluster.Secrets.CACertHash}
	}
	if l := c.Cluster.ControlPlane.LeaderElection; l != nil && role == kubeadm.RoleInit {
		// Validated with the metadata; kubeadm keeps them in the
		// ClusterConfiguration every joining control plane reads.
		lease, renew, retry, _ := l.Durations()
		p.LeaderElection = kubeadm.LeaderElection{LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry}
	}
	if role != kubeadm.RoleJoinWorker {
		p.ControlPlaneTimeout = controlPlaneTimeout
		p.AdvertiseAddress = a.n.addr
		for _, peer := range c.Cluster.ControlPlane.Peers {
			p.CertSANs = append(p.CertSANs, peer.Address, peer.Name)
		}
		if dns := c.Cluster.ControlPlaneEndpoint.DNSName; dns != "" {
			p.CertSANs = append(p.CertSANs, dns)
		}
	}
	if role != kubeadm.RoleJoinWorker && c.Cluster.ControlPlane.Probes != nil {
		p.PatchesDir = PatchesDir
	}
	if role == kubeadm.RoleJoinControlPlane && c.Cluster.LoadBalancer.Mode != config.LBExternal {
		// The load balancer's static pods are in the manifests directory
		// before the join, which kubeadm's preflight wants empty.
		p.IgnorePreflightErrors = []string{manifestsCheck}
	}
	for _, t := range c.Node.Taints {
		p.Taints = append(p.Taints, kubeadm.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	if set := a.images; set != nil {
		// kubeadm must ask for the images the build preloaded.
		if r := set.Kubeadm.ImageRepository; r != "" && r != defaultImageRepository {
			p.ImageRepository = r
		}
		if o := set.Kubeadm.Etcd; o != nil {
			p.EtcdImage = kubeadm.ImageMeta{Repository: o.ImageRepository, Tag: o.ImageTag}
		}
		if o := set.Kubeadm.DNS; o != nil {
			p.DNSImage = kubeadm.ImageMeta{Repository: o.ImageRepository, Tag: o.ImageTag}
		}
	}
	return p
}

// defaultImageRepository is kubeadm's: left out of the configuration.
const defaultImageRepository = "registry.k8s.io"

// lbImages are the static pods' images: the image set's, else lb's defaults.
func (a *Agent) lbImages() lb.Images {
	im := lb.DefaultImages()
	for _, f := range []struct {
		dst  *string
		name string
	}{{&im.HAProxy, imageset.HAProxy}, {&im.Keepalived, imageset.Keepalived}, {&im.KubeVIP, imageset.KubeVIP}} {
		if r := a.images.Ref(f.name); r != "" {
			*f.dst = r
		}
	}
	return im
}

// cniImages are the pod network's images: the image set's; empty fields keep cni's
// defaults.
func (a *Agent) cniImages() cni.ImageRefs {
	s := a.images
	return cni.ImageRefs{
		Flannel: s.Ref(imageset.Flannel), FlannelCNIPlugin: s.Ref(imageset.FlannelCNIPlugin),
		CalicoCNI: s.Ref(imageset.CalicoCNI), CalicoNode: s.Ref(imageset.CalicoNode), CalicoKubeControllers: s.Ref(imageset.CalicoKubeControllers),
	}
}

// writePKI puts the cluster's CAs and service-account keys where kubeadm
// looks for them, so that init uses them and a control plane joins with
// no certificate key (no two-hour window).
func (a *Agent) writePKI() error {
	s := a.cfg.Cluster.Secrets
	if s.FrontProxyCA == nil || s.EtcdCA == nil || s.ServiceAccount == nil || s.KubernetesCA.Key == "" {
		return permanent(&config.Error{Field: "cluster.secrets", Msg: "a control plane needs every CA key and the service-account keys"})
	}
	files := []struct {
		path, data string
		mode       fs.FileMode
	}{
		{PKIDir + "/ca.crt", s.KubernetesCA.Cert, 0o644},
		{PKIDir + "/ca.key", s.KubernetesCA.Key, 0o600},
		{PKIDir + "/front-proxy-ca.crt", s.FrontProxyCA.Cert, 0o644},
		{PKIDir + "/front-proxy-ca.key", s.FrontProxyCA.Key, 0o600},
		{PKIDir + "/etcd/ca.crt", s.EtcdCA.Cert, 0o644},
		{PKIDir + "/etcd/ca.key", s.EtcdCA.Key, 0o600},
		{PKIDir + "/sa.pub", s.ServiceAccount.PublicKey, 0o644},
		{PKIDir + "/sa.key", s.ServiceAccount.PrivateKey, 0o600},
	}
	for _, f := range files {
		if err := a.host.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeLoadBalancer renders and writes the load balancer's files. kube-vip
// on the bootstrap node of Kubernetes 1.29+ uses super-admin.conf until
// init is done (see lb.KubeVIPKubeconfig).
func (a *Agent) writeLoadBalancer(initializing bool) error {
	c := a.cfg
	p := lb.Params{
		Mode:            lb.Mode(c.Cluster.LoadBalancer.Mode),
		VIP:             c.Cluster.ControlPlaneEndpoint.VIP,
		Port:            c.Cluster.ControlPlaneEndpoint.Port,
		Interface:       a.n.lbIface,
		Self:            c.Node.Name,
		VirtualRouterID: c.Cluster.LoadBalancer.VirtualRouterID,
		AuthPass:        c.Cluster.LoadBalancer.AuthPass,
		Check:           lbCheck(c.Cluster.LoadBalancer.HealthCheck),
		Images:          a.lbImages(),
	}
	for _, peer := range c.Cluster.ControlPlane.Peers {
		p.Peers = append(p.Peers, lb.Peer{Name: peer.Name, Address: peer.Address})
	}
	if p.Mode == lb.ModeKeepalivedHAProxy && p.AuthPass == "" {
		p.AuthPass = vrrpPass(c)
	}
	if p.Mode == lb.ModeKubeVIP {
		p.Port = 0
		kc, err := lb.KubeVIPKubeconfig(c.Cluster.KubernetesVersion, initializing)
		if err != nil {
			return permanent(err)
		}
		p.Kubeconfig = kc
	}
	files, err := lb.Render(p)
	if err != nil {
		return permanent(fmt.Errorf("rendering the load balancer: %w", err))
	}
	for _, f := range files {
		if err := a.host.WriteFile("/"+f.Path, f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// vrrpPass is the VRRP password when the metadata gives none: the same on
// every peer (derived from what they share), different between clusters.
// VRRP's PASS authentication travels in clear text, so it only keeps
// clusters on one network segment apart; it protects nothing.
func vrrpPass(c *config.NodeConfig) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("kiln vrrp %s %s %d", c.Cluster.Name, c.Cluster.ControlPlaneEndpoint.VIP, c.Cluster.LoadBalancer.VirtualRouterID)))
	return hex.EncodeToString(sum[:4])
}

// lbCheck is the metadata's keepalived check timings as lb takes them
// (zero: lb's defaults).
func lbCheck(hc *config.LBHealthCheck) lb.Check {
	if hc == nil {
		return lb.Check{}
	}
	return lb.Check{Interval: hc.IntervalSeconds, Timeout: hc.TimeoutSeconds, Fall: hc.Fall, Rise: hc.Rise}
}
