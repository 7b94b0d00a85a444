// Package agent is kiln-firstboot's engine: it reads a node's metadata from
// its platform, prepares the host (package host) and makes the node a
// member of its Kubernetes cluster with kubeadm, with no SSH and no hand
// steps, reporting every step.
//
// # The plan
//
// Every node: metadata (read, validate, check the CAs' dates and the
// Ignition config, keep a copy in /etc/kiln/metadata.yaml, scrub the
// platform's); then, phase host: ignition (when given), hostname, network,
// address (wait until the node holds its address), hosts, time (when NTP
// servers are given), swap, kernel, selinux, firewall, containerd, images,
// kubelet, kubeadm-version (the image's kubeadm must be the cluster's
// version).
//
// Control planes, phase load-balancer: the keepalived + haproxy or kube-vip
// static pods (nothing with an external load balancer).
//
// The first control plane in cluster.controlPlane.peers, phase init: init
// (CAs and service-account keys into /etc/kubernetes/pki, the kubeadm
// InitConfiguration into /etc/kubernetes/kubeadm-config.yaml, then
// `kubeadm init --config`; no --upload-certs, since every control plane
// carries the CAs), kube-vip-admin (kube-vip on 1.29+: back from
// super-admin.conf to admin.conf); phase cni: cni (the manifest into
// /etc/kiln/cni.yaml, `kubectl apply -f`). The bootstrap token init makes
// keeps kubeadm's 24-hour TTL: no node needs it later.
//
// Every other node, phase join: credential (workers: refuse a join
// credential that has expired, is not yet valid or names another node,
// before kubeadm runs), endpoint (wait until https://VIP:PORT/healthz
// answers, verified with the cluster CA), join (control planes: CAs,
// static pods and a JoinConfiguration with controlPlane; workers: a
// JoinConfiguration; both with discovery.file naming JoinKubeconfig, the
// CA and a client certificate for system:node:NAME: the worker's from its
// metadata, a control plane's minted for the attempt from the CA key it
// carries; then `kubeadm join --config`, and JoinKubeconfig is removed). A failed join is followed by `kubeadm reset -f` and a pause
// that doubles each time with ±50% jitter, so control planes that etcd
// refuses while another member is being added join one at a time.
//
// Every node, phase ready: ready (wait until the node's Ready condition is
// True; skipped with cni none, where the node stays NotReady until someone
// installs a pod network), then the marker /var/lib/kiln/done and status
// done. Only done and failed are final: a status in phase ready still waits.
//
// # State and resuming
//
// /var/lib/kiln/state.json lists every step started and done; it is
// rewritten atomically before each step starts and after it ends. A run
// skips the steps done, so a reboot at any point resumes at the step it
// stopped in, and every step is safe to run again. Two steps look at what
// an interrupted attempt left rather than trusting the state:
//
//   - init never runs kubeadm init over a control plane that an earlier
//     attempt brought up: when /etc/kubernetes/manifests/kube-apiserver.yaml
//     exists, the API server may have run and nodes may have joined, so the
//     agent starts kubelet, waits for its own API server and runs init's
//     remaining, idempotent phases (upload-config, mark-control-plane,
//     bootstrap-token, addon) instead. Without it, whatever an earlier
//     attempt left (admin.conf, kubelet.conf, etcd's pod) belongs to an init
//     that never served the API, on which nobody can depend: kubeadm reset
//     -f, then init.
//   - join with /etc/kubernetes/kubelet.conf present: a worker has joined;
//     a control plane has joined if its API server answers, and is reset
//     and joined again otherwise.
//
// A step gives up after Limits (attempts, or a time bound for waits):
// the agent reports phase failed with the step, the error and what to do,
// and exits non-zero; the next boot tries again from that step. Invalid
// metadata fails step metadata with every field named.
//
// # Status
//
// Each step is reported as a config.Status (phase, "step: message", time;
// error when failed) to /var/lib/kiln/status.json, as a KILN-STATUS line to
// Options.Console, and to the platform when it implements StatusReporter.
// Every status carries the seconds elapsed since the agent first started on
// the node (State.FirstStart, kept across reboots); the final done status
// also carries each step's start and end (from the state's step records)
// and the milestones api-ready and node-ready, all read from
// Options.Clock, so tests fix them with a fake clock.
//
// Example:
//
//	a, err := agent.New(agent.Options{Root: "/", Platform: p, Console: os.Stdout, Log: logger})
//	if err != nil {
//		return err
//	}
//	if err := a.Run(ctx); err != nil {
//		var f *agent.Failure
//		errors.As(err, &f) // f.Step, f.Err, f.Hint
//		return err
//	}
package agent
