// Package certrenew keeps a control plane's kubeadm certificates from
// expiring, which after a year is the most common way a kubeadm cluster
// goes down. The agent installs Units on every control plane: a daily
// timer and a oneshot service running `kiln-firstboot renew-certs`, which
// calls Renewer.Run.
//
// Run reads the earliest expiry among the node's leaf certificates
// (Earliest: /etc/kubernetes/pki, the client certificates embedded in
// admin.conf, super-admin.conf, controller-manager.conf and
// scheduler.conf, and the kubelet's client certificate) and does nothing
// while it is more than Window (30 days) away. Otherwise it runs `kubeadm
// certs renew all` and restarts the static pods so they load the new
// certificates, in dependency order: etcd, kube-apiserver (waiting until
// its /healthz answers), kube-controller-manager, kube-scheduler. A static
// pod restarts when its manifest leaves /etc/kubernetes/manifests for
// longer than the kubelet's file check (20 s) and comes back, which is
// what kubeadm's documentation prescribes.
//
// One control plane at a time: the certificates of all control planes
// were made within minutes of each other, so they all cross the window on
// the same day. Each node's timer fires at a time fixed by its index in
// cluster.controlPlane.peers (03:00 node time, as systemd 219 on EL7 takes no time zone, plus 20 minutes per index), and a
// renewal takes about two minutes, so no two control planes restart etcd
// or kube-apiserver together and etcd keeps its quorum. kiln does not take
// a lease through the API for this: the renewal must work when the API
// is what is broken (expired certificates), and admin.conf, the
// credential such a lease would need, is one of the certificates being
// renewed.
//
// Example:
//
//	r := certrenew.Renewer{Host: h, Clock: clock, Health: health, Address: "10.0.0.11"}
//	res, err := r.Run(ctx)
//	// res.Renewed, res.Before, res.After
package certrenew
