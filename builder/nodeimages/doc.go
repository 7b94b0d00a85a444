// Package nodeimages derives the container images a Kubernetes node's first boot runs, from
// a profile's kubernetes section and the locked kubeadm version: kubeadm's images (from
// kubeadmimages' table), the load balancers' static pods and the pod networks (at the
// references kiln-firstboot pins, or the profile's overrides). It also decides where each
// image comes from: preloaded from the lock's pinned digest or an archive of the profile's
// images[], or pulled at first boot when kubernetes.pullAllowed says so. `kiln lock` pins
// what Sources returns; `kiln build` checks it with Check, stages it and writes the set
// (firstboot/imageset) into the image.
//
//	v, err := nodeimages.KubeadmVersion(l.Packages) // v1.34.2
//	set, err := nodeimages.Derive(p.Kubernetes, v)
//	preload, pull := nodeimages.Sources(p, set)
//	err = nodeimages.Check(preload, l.ImageDigest)
package nodeimages
