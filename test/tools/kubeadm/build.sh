#!/usr/bin/env bash
# build.sh builds real kubeadm binaries from the Go module proxy, so tests can use kubeadm
# itself (config validate, init --dry-run) as the oracle for the configs kiln renders.
#
# usage: test/tools/kubeadm/build.sh [OUTDIR] VERSION...      (run from the module root)
#   e.g. test/tools/kubeadm/build.sh build/tools v1.30.14 v1.34.4
#
# For each VERSION it writes OUTDIR/kubeadm-VERSION, skipping versions already built.
# k8s.io/kubernetes is not meant to be imported: its go.mod points every k8s.io staging module
# (k8s.io/api, client-go, ...) at ./staging/src, which does not exist in the module zip. A
# throwaway wrapper module under OUTDIR/kubeadm-src-VERSION requires k8s.io/kubernetes VERSION
# and replaces each staging module, read from that version's own go.mod, with its published
# v0.MINOR.PATCH tag. The version variables kubernetes' release build sets are set with -X, so
# `kubeadm version` reports VERSION (kubeadm checks kubernetesVersion against its own version).
#
# In the last VERSION's wrapper module it also builds OUTDIR/manifestcheck-VERSION from
# test/tools/manifestcheck (strict decoding and API server validation of manifests), rebuilt
# when its source is newer than the binary.
set -euo pipefail

checker_src=$(cd "$(dirname "$0")/../manifestcheck" && pwd)/main.go
# shellcheck source=../k8s/wrapper.sh
. "$(dirname "$0")/../k8s/wrapper.sh"

outdir=build/tools
if [[ $# -gt 0 && $1 != v* ]]; then outdir=$1; shift; fi
if [[ $# -eq 0 ]]; then echo "usage: $0 [OUTDIR] VERSION..." >&2; exit 2; fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

export GOFLAGS=-mod=mod GONOSUMDB='k8s.io/*' GOTOOLCHAIN=local CGO_ENABLED=0
# Some k8s.io versions are missing from the checksum database; GONOSUMDB skips only those.

for version in "$@"; do
	if ! [[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
		echo "build.sh: $version is not a release version (want v1.MINOR.PATCH)" >&2; exit 2
	fi
	bin=$outdir/kubeadm-$version
	if [[ -x $bin ]]; then echo "kubeadm $version: $bin already built"; continue; fi

	src=$outdir/kubeadm-src-$version
	mkdir -p "$src"
	k8s_wrapper_gomod "$src" "$version" kiln.invalid/kubeadm-build

	ldflags=$(k8s_version_ldflags "$version")
	echo "kubeadm $version: building in $src"
	start=$SECONDS
	(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" k8s.io/kubernetes/cmd/kubeadm)
	mv "$bin.tmp" "$bin"
	echo "kubeadm $version: built $bin in $((SECONDS - start))s"
done

version=${!#} src=$outdir/kubeadm-src-$version bin=$outdir/manifestcheck-$version
if [[ -x $bin && ! $checker_src -nt $bin ]]; then
	echo "manifestcheck $version: $bin already built"
else
	mkdir -p "$src/manifestcheck"
	cp "$checker_src" "$src/manifestcheck/main.go"
	start=$SECONDS
	(cd "$src" && go build -trimpath -tags kiln_tools -ldflags "-s -w" -o "$bin.tmp" ./manifestcheck)
	mv "$bin.tmp" "$bin"
	echo "manifestcheck $version: built $bin in $((SECONDS - start))s"
fi
