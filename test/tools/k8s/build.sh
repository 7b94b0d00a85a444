#!/usr/bin/env bash
# build.sh builds the real Kubernetes parts kiln's cluster test runs, from the Go module proxy,
# into a cache outside the clone keyed by version:
#
#   CACHE/k8s-VERSION-etcd-ETCD/kube   kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
#                                      kube-scheduler, kube-proxy and etcd in one multi-call binary
#   CACHE/k8s-VERSION-etcd-ETCD/bin/NAME -> ../kube, one symlink per command
#
# usage: test/tools/k8s/build.sh [CACHE] VERSION ETCD_VERSION   (run from the module root)
#   e.g. test/tools/k8s/build.sh /var/cache/kiln-tools v1.34.4 v3.6.5
# CACHE defaults to $KILN_TOOLS_CACHE or /var/cache/kiln-tools.
#
# A throwaway wrapper module (wrapper.sh) requires k8s.io/kubernetes and replaces each staging
# module with its published v0.MINOR.PATCH tag; the release version is set with -X so every
# component reports VERSION. etcd is raised to the patch release kubeadm
# VERSION names for its image (go.etcd.io/etcd/*/v3 ETCD_VERSION), so the etcd in the image
# tagged with that version is that version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=wrapper.sh
. "$here/wrapper.sh"
cache=${KILN_TOOLS_CACHE:-/var/cache/kiln-tools}
if [[ $# -gt 0 && $1 != v* ]]; then cache=$1; shift; fi
if [[ $# -ne 2 ]]; then echo "usage: $0 [CACHE] VERSION ETCD_VERSION" >&2; exit 2; fi
version=$1 etcd=$2
if ! [[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then echo "build.sh: $version is not v1.MINOR.PATCH" >&2; exit 2; fi
out=$cache/k8s-$version-etcd-$etcd
bin=$out/kube
# Rebuilt when the multi-call main changes.
stamp=$(sha256sum "$here/kube/main.go" "$0" "$here/wrapper.sh" | sha256sum | cut -c1-16)
links() {
	mkdir -p "$out/bin"
	for name in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd; do
		ln -sfn ../kube "$out/bin/$name"
	done
}
if [[ -x $bin && -f $out/stamp && $(cat "$out/stamp") == "$stamp" ]]; then links; echo "kube $version: $bin already built"; exit 0; fi

export GOFLAGS=-mod=mod GONOSUMDB='k8s.io/*' GOTOOLCHAIN=local CGO_ENABLED=0
src=$cache/src/k8s-$version-etcd-$etcd
mkdir -p "$src/kube" "$out"
etcd_requires=()
for m in api/v3 client/pkg/v3 client/v3 pkg/v3 server/v3; do etcd_requires+=("go.etcd.io/etcd/$m $etcd"); done
k8s_wrapper_gomod "$src" "$version" kiln.invalid/k8s-build "${etcd_requires[@]}"
cp "$here/kube/main.go" "$src/kube/main.go"
ldflags=$(k8s_version_ldflags "$version")
echo "kube $version (etcd $etcd): building in $src"
start=$SECONDS
(cd "$src" && /usr/bin/time -f "kube: %e s wall, %U s user, %S s sys, %M KiB peak" \
	go build -trimpath -tags kiln_tools -ldflags "$ldflags" -o "$bin.tmp" ./kube)
mv "$bin.tmp" "$bin"
links
echo "$stamp" >"$out/stamp"
echo "kube $version: built $bin in $((SECONDS - start))s"
