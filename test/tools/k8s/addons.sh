#!/usr/bin/env bash
# addons.sh builds, from the Go module proxy and the Kubernetes module zip, the static
# linux/amd64 binaries a real Kubernetes v1.34.4 test cluster runs besides kubeadm's own:
# CoreDNS, flannel (flanneld and its install-conf), the CNI plugins and pause.
#
# usage: test/tools/k8s/addons.sh        (run from the module root)
#
# Output, in a cache outside the clone keyed by everything that decides the bytes (the versions
# below, this script, the sources it builds, the Go and gcc versions):
#   ${KILN_TOOLS_CACHE:-/var/cache/kiln-tools}/addons-KEY/bin/{coredns,flanneld,install-conf,
#       bridge,host-local,loopback,portmap,flannel,pause,versions.txt}
#   ${KILN_TOOLS_CACHE:-/var/cache/kiln-tools}/addons-KEY/src/   throwaway wrapper modules
# The last line on stdout is the bin directory; progress and timings go to stderr. A binary
# already in bin/ is not rebuilt; each is written to a temporary name and renamed when built.
# versions.txt (binary, module@version, package) is written last, once every binary is there.
#
# What is built from where, and the served stand-ins for what the module proxy does not serve:
# - coredns: github.com/coredns/coredns v1.12.1, the version kubeadm v1.34.4 deploys, through
#   test/tools/k8s/coredns/main.go: only the plugins kubeadm's default Corefile uses (plus log)
#   instead of upstream's core/plugin, which links all ~50 plugins and their cloud SDKs.
# - flanneld, install-conf: github.com/flannel-io/flannel v0.28.9, upstream's own main package
#   and cmd/install_conf (the program flannel's image runs as /opt/bin/install-conf), both
#   unmodified. Its tencent-vpc backend imports github.com/tencentcloud/tencentcloud-sdk-go/
#   tencentcloud/vpc, which the proxy does not serve: the build replaces that module with
#   test/tools/k8s/flannel/tencentvpc_standin.go, kiln's stand-in that declares what the backend
#   uses and fails every call. So the tencent-vpc backend fails at start; the others, and vxlan
#   with --kube-subnet-mgr --ip-masq that kiln's cluster runs, are flannel's own. flanneld is the
#   one cgo build: its udp backend is C on amd64, and flannel's Makefile builds it so there.
# - bridge, host-local, loopback, portmap: github.com/containernetworking/plugins v1.9.1, the
#   version flannel v0.28.9 itself requires.
# - flannel (the CNI plugin): upstream is github.com/flannel-io/cni-plugin, which the proxy does
#   not serve. Its code lived in github.com/containernetworking/plugins until v1.0.0 moved it
#   out; v0.9.1, the last release with plugins/meta/flannel, is built in a module of its own.
#   It reads /run/flannel/subnet.env and delegates to bridge and host-local, as flannel-io's does.
# - pause: build/pause/linux/pause.c from the k8s.io/kubernetes v1.34.4 module zip, compiled as
#   build/pause/Makefile does (gcc -Os -Wall -Werror -static -DVERSION=vTAG-REV, stripped), with
#   TAG from that Makefile and REV the Kubernetes version (there is no git tree to describe).
set -euo pipefail

k8s_version=v1.34.4
coredns_version=v1.12.1
flannel_version=v0.28.9
cni_version=v1.9.1
cni_flannel_version=v0.9.1

here=$(cd "$(dirname "$0")" && pwd)
coredns_main=$here/coredns/main.go
tencent_vpc_standin=$here/flannel/tencentvpc_standin.go

export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOOS=linux GOARCH=amd64

key=$( {
	echo "$k8s_version $coredns_version $flannel_version $cni_version $cni_flannel_version"
	go env GOVERSION
	gcc --version | head -n1
	cat "$0" "$coredns_main" "$tencent_vpc_standin"
} | sha256sum | cut -c1-16)
top=${KILN_TOOLS_CACHE:-/var/cache/kiln-tools}/addons-$key
mkdir -p "$top/bin" "$top/src"
top=$(cd "$top" && pwd)
out=$top/bin src=$top/src

log() { echo "addons: $*" >&2; }

total_wall=0 total_cpu=0
# timed NAME CMD... runs CMD, reporting its wall and CPU time (user+system, children included:
# the compiler and linker processes go build starts) and adding them to the totals.
timed() {
	local name=$1 t wall user sys cpu
	shift
	t=$(mktemp)
	/usr/bin/time -f '%e %U %S' -o "$t" "$@"
	read -r wall user sys <"$t"
	rm -f "$t"
	cpu=$(awk "BEGIN { print $user + $sys }")
	total_wall=$(awk "BEGIN { print $total_wall + $wall }")
	total_cpu=$(awk "BEGIN { print $total_cpu + $cpu }")
	log "$name: built in ${wall}s wall, ${cpu}s CPU"
}

# wrapper DIR MODULE VERSION [GO.MOD LINES...] writes a throwaway module in DIR requiring
# MODULE@VERSION, at the go version MODULE's own go.mod states (which sets the binaries' default
# GODEBUG settings as upstream's build does). It prints MODULE's directory in the module cache.
wrapper() {
	local dir=$1 mod=$2 version=$3
	shift 3
	mkdir -p "$dir"
	local json gomod moddir goline
	json=$(cd "$dir" && go mod download -json "$mod@$version")
	gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
	moddir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
	if [[ ! -f $gomod || ! -d $moddir ]]; then
		echo "addons.sh: cannot download $mod@$version from the module proxy" >&2; exit 1
	fi
	goline=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")
	{
		echo "// Generated by test/tools/k8s/addons.sh; throwaway, safe to delete."
		echo "module kiln.invalid/addons-$(basename "$dir")"
		echo
		echo "go ${goline:-1.22}"
		echo
		echo "require $mod $version"
		local line
		for line in "$@"; do echo "$line"; done
	} >"$dir/go.mod.tmp"
	# Keep go.sum across runs only while go.mod is unchanged.
	if ! cmp -s "$dir/go.mod.tmp" "$dir/go.mod"; then rm -f "$dir/go.sum"; fi
	mv "$dir/go.mod.tmp" "$dir/go.mod"
	echo "$moddir"
}

# gobuild NAME DIR PKG LDFLAGS [GO BUILD FLAGS...] builds PKG in the module in DIR as bin/NAME.
gobuild() {
	local name=$1 dir=$2 pkg=$3 ldflags=$4
	shift 4
	local tmp=$out/.$name.tmp.$$
	timed "$name" go -C "$dir" build -trimpath -ldflags "-s -w $ldflags" "$@" -o "$tmp" "$pkg"
	check_static "$tmp" "$name"
	mv "$tmp" "$out/$name"
}

# check_static FILE NAME fails unless FILE is a static linux/amd64 executable.
check_static() {
	local hdr
	hdr=$(readelf -h -l "$1")
	if ! grep -q 'Machine:.*X86-64' <<<"$hdr" || grep -q 'INTERP' <<<"$hdr"; then
		echo "addons.sh: $2 is not a static x86-64 executable" >&2; exit 1
	fi
}

# needed NAME... is true when one of the binaries NAME... is not yet in bin/.
needed() {
	local name
	for name in "$@"; do [[ -x $out/$name ]] || return 0; done
	for name in "$@"; do log "$name: already built"; done
	return 1
}

versions=()

# CoreDNS: kiln's main with kubeadm's plugins, checked to register at least those.
versions+=("coredns github.com/coredns/coredns@$coredns_version kiln:test/tools/k8s/coredns")
if needed coredns; then
	dir=$src/coredns
	wrapper "$dir" github.com/coredns/coredns "$coredns_version" >/dev/null
	mkdir -p "$dir/coredns"
	cp "$coredns_main" "$dir/coredns/main.go"
	gobuild coredns "$dir" ./coredns \
		"-X github.com/coredns/coredns/coremain.gitTag=$coredns_version" -tags kiln_tools
fi
# Packages the wanted ones import register a few more (debug, dnstap, metadata, transfer), which
# stay inert unless a Corefile names them.
got=" $("$out/coredns" -plugins | tr '\n' ' ')"
for p in errors health ready kubernetes prometheus forward cache loop reload loadbalance log; do
	if [[ $got != *" $p "* ]]; then
		echo "addons.sh: coredns -plugins lacks $p:$got" >&2; exit 1
	fi
done

# flanneld and install-conf: flannel's own mains, with a stand-in for the unserved VPC SDK.
versions+=("flanneld github.com/flannel-io/flannel@$flannel_version github.com/flannel-io/flannel (tencentcloud vpc SDK: kiln stand-in)")
versions+=("install-conf github.com/flannel-io/flannel@$flannel_version github.com/flannel-io/flannel/cmd/install_conf")
if needed flanneld install-conf; then
	dir=$src/flannel
	tencent_vpc=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc
	wrapper "$dir" github.com/flannel-io/flannel "$flannel_version" \
		"replace $tencent_vpc => ./tencentcloud-vpc-standin" >/dev/null
	mkdir -p "$dir/tencentcloud-vpc-standin/v20170312"
	printf 'module %s\n\ngo 1.17\n' "$tencent_vpc" >"$dir/tencentcloud-vpc-standin/go.mod"
	cp "$tencent_vpc_standin" "$dir/tencentcloud-vpc-standin/v20170312/standin.go"
	# The udp backend is cgo on amd64, so flannel's Makefile builds flanneld there with
	# CGO_ENABLED=1, linked statically; netgo and osusergo keep glibc's resolver and NSS out.
	if needed flanneld; then
		CGO_ENABLED=1 gobuild flanneld "$dir" github.com/flannel-io/flannel \
			"-X github.com/flannel-io/flannel/pkg/version.Version=$flannel_version -linkmode external -extldflags -static" \
			-tags kiln_tools,netgo,osusergo
	fi
	if needed install-conf; then
		gobuild install-conf "$dir" github.com/flannel-io/flannel/cmd/install_conf ""
	fi
fi

# The standard CNI plugins flannel delegates to and chains with.
cni_plugins=(main/bridge ipam/host-local main/loopback meta/portmap)
for p in "${cni_plugins[@]}"; do
	versions+=("${p#*/} github.com/containernetworking/plugins@$cni_version github.com/containernetworking/plugins/plugins/$p")
done
if needed "${cni_plugins[@]#*/}"; then
	dir=$src/cni-plugins
	wrapper "$dir" github.com/containernetworking/plugins "$cni_version" >/dev/null
	for p in "${cni_plugins[@]}"; do
		if needed "${p#*/}"; then
			gobuild "${p#*/}" "$dir" "github.com/containernetworking/plugins/plugins/$p" \
				"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_version"
		fi
	done
fi

# The flannel CNI plugin, from the last containernetworking/plugins release that had it.
versions+=("flannel github.com/containernetworking/plugins@$cni_flannel_version github.com/containernetworking/plugins/plugins/meta/flannel (stands in for github.com/flannel-io/cni-plugin)")
if needed flannel; then
	dir=$src/cni-flannel
	wrapper "$dir" github.com/containernetworking/plugins "$cni_flannel_version" >/dev/null
	gobuild flannel "$dir" github.com/containernetworking/plugins/plugins/meta/flannel \
		"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_flannel_version"
fi

# pause, from the Kubernetes module zip.
versions+=("pause k8s.io/kubernetes@$k8s_version build/pause/linux/pause.c")
if needed pause; then
	dir=$src/pause
	mkdir -p "$dir"
	kdir=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$k8s_version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	if [[ ! -f $kdir/build/pause/linux/pause.c ]]; then
		echo "addons.sh: no build/pause/linux/pause.c in k8s.io/kubernetes@$k8s_version" >&2; exit 1
	fi
	tag=$(sed -n 's/^TAG ?= \(.*\)$/\1/p' "$kdir/build/pause/Makefile")
	tmp=$out/.pause.tmp.$$
	timed pause sh -c 'gcc -Os -Wall -Werror -static -DVERSION="$1" -o "$2" "$3" && strip "$2"' \
		sh "v$tag-$k8s_version" "$tmp" "$kdir/build/pause/linux/pause.c"
	check_static "$tmp" pause
	mv "$tmp" "$out/pause"
fi

log "total: ${total_wall}s wall, ${total_cpu}s CPU"
printf '%s\n' "${versions[@]}" >"$out/.versions.txt.tmp.$$"
mv "$out/.versions.txt.tmp.$$" "$out/versions.txt"
echo "$out"
