// Package clusterimages builds, with no registry, the container images a
// kiln cluster runs (kubeadm's control plane, kube-proxy, CoreDNS, pause,
// flannel, haproxy and keepalived), so the cluster test can preload them
// into a kiln image as docker-archive tarballs. Nothing is pulled: the
// Kubernetes images hold one multi-call `kube` binary built from the
// module proxy (one layer, byte-identical in all five, so containerd
// stores and unpacks it once) plus a layer of symlinks naming it; CoreDNS,
// pause and flannel hold static binaries; what needs system tools
// (iptables, conntrack, busybox's cp, haproxy, keepalived, curl, ip)
// takes Debian's packages file by file from an installed Debian tree, as
// its dpkg database lists them, with their dependency closure.
//
// The images are reproducible: tar entries sorted with one timestamp and
// numeric owners, gzip at a fixed level, configs stamped with
// Inputs.Created; the same inputs give the same digests.
//
//	refs, err := clusterimages.KubeadmImages(ctx, "build/tools/kubeadm-v1.34.4", "v1.34.4")
//	...
//	results, err := clusterimages.Build(ctx, clusterimages.Inputs{
//		Kube: kube, Addons: addons, DebianRoot: root, KubeadmImages: refs,
//		Created: time.Unix(0, 0),
//	}, "build/cluster-images")
//
// These images are stand-ins for upstream's: same references and the
// commands kubeadm's and kiln's manifests run, different bytes.
package clusterimages
