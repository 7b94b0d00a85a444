// Package lb renders what makes the control-plane endpoint highly available on a
// control-plane node, as static pods the kubelet starts before (and during) kubeadm init:
//
//   - keepalived + haproxy (the default, following the kubeadm HA guide): keepalived holds a
//     virtual IP over VRRP with unicast peers and a health check script; haproxy on the
//     virtual IP's port (8443) balances TCP over every API server (:6443), each checked with
//     GET /healthz over TLS. Files: haproxy.cfg, keepalived.conf, check_apiserver.sh and the
//     haproxy.yaml and keepalived.yaml static pod manifests.
//   - kube-vip in ARP mode with leader election: one static pod, kube-vip.yaml. On Kubernetes
//     1.29 and later the bootstrap node's kube-vip must use super-admin.conf during
//     kubeadm init (see KubeVIPKubeconfig).
//
// Images are parameters, so the image build can preload exactly what the pods run. Output
// is deterministic. Addresses are IPv4.
//
// Example:
//
//	files, err := lb.Render(lb.Params{
//		Mode:      lb.ModeKeepalivedHAProxy,
//		VIP:       "10.0.0.100",
//		Interface: "eth0",
//		Peers:     []lb.Peer{{Name: "cp-1", Address: "10.0.0.11"}, {Name: "cp-2", Address: "10.0.0.12"}},
//		Self:      "cp-1",
//		AuthPass:  "k1lnvrrp",
//		Images:    lb.DefaultImages(),
//	})
//	// write each file under the node's root: files[i].Path, files[i].Mode, files[i].Data
package lb
