// Package imageset is the contract between `kiln build` and kiln-firstboot about container
// images: the file /usr/lib/kiln/images.json that every Kubernetes image carries. It names,
// for each image first boot runs (kubeadm's control plane, etcd, CoreDNS and pause, the
// load balancer's static pods, the pod network), the exact reference to use; what kubeadm's
// configuration must say so that kubeadm asks for those references; which images are
// preloaded under /var/lib/kiln/images (with their digests); and which ones first boot may
// pull because the profile allowed it.
//
// The build writes the file from the profile and the lock; the agent reads it and falls
// back to its built-in defaults when it is absent (images built before the file existed,
// or profiles without a kubernetes section).
//
//	set, err := imageset.Read(root) // nil, nil when the image carries no set
//	if err != nil {
//		return err
//	}
//	haproxy := set.Ref(imageset.HAProxy) // "" when absent: use the default
package imageset
