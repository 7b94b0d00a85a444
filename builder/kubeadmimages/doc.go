// Package kubeadmimages knows which container images a kubeadm release runs: the
// control-plane images and kube-proxy at the Kubernetes version, and the etcd, CoreDNS and
// pause images at the versions that release of kubeadm names. It is the table behind
// `kubeadm config images list`, so kiln can preload exactly those images without asking
// users to copy the list by hand.
//
// The etcd, CoreDNS and pause versions change within a minor release (kubeadm 1.34.0 runs
// etcd 3.6.4-0, 1.34.2 runs 3.6.5-0), so the table has one row per range of patch releases.
// Each row was read from cmd/kubeadm/app/constants/constants.go (DefaultEtcdVersion, the
// release's own SupportedEtcdVersion entry, CoreDNSVersion, PauseVersion) of
// k8s.io/kubernetes at the versions it names, from the Go module proxy; a range's ends
// were both read, and kubeadm only ever raises these versions, so the patches between
// agree. A version outside every row is an error, never a guess: a wrong etcd tag would
// make first boot pull from a registry. The tests check the table against a real kubeadm's
// `config images list` when `make tools` has built one.
//
//	im, err := kubeadmimages.For("v1.34.2", kubeadmimages.DefaultRepository)
//	if err != nil {
//		return err // kubeadm v1.35.0: not in kiln's table of kubeadm's images ...
//	}
//	fmt.Println(im.List()) // registry.k8s.io/kube-apiserver:v1.34.2 ... registry.k8s.io/etcd:3.6.5-0
package kubeadmimages
