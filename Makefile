# kiln — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/kiln-build/kiln/builder/buildinfo.version=$(VERSION)
BIN := build/bin
# Fuzzing is bounded by executions, not time: Go 1.26's coordinator can
# report a bare "context deadline exceeded" when a -fuzztime duration ends
# (go.dev/issue/75804), which is not a finding.
FUZZTIME ?= 20000x
# Real kubeadm binaries the tests use as an oracle: the last v1beta3 line and a v1beta4 one.
KUBEADM_VERSIONS ?= v1.30.14 v1.34.4

# Debian packages the tests compare against (reference tools) and the build needs.
DEPS := rpm createrepo-c python3-solv libsolv-tools dnf e2fsprogs dosfstools gdisk mtools \
	qemu-utils libcap2-bin grub-common grub-efi-amd64-bin grub-pc-bin genisoimage xorriso \
	haproxy keepalived shellcheck openssl xz-utils zstd bzip2 cpio busybox-static gnupg \
	ca-certificates git curl qemu-system-x86 ovmf db5.3-util default-jre-headless
# And what the boot test adds.
DEPS_E2E := debootstrap iproute2 util-linux time

# The cluster test's real Kubernetes: built from the Go module proxy into a cache outside the
# clone, keyed by version (test/tools/k8s). etcd is the patch release this kubeadm names.
K8S_VERSION ?= v1.34.4
ETCD_VERSION ?= v3.6.5
TOOLS_CACHE ?= $(or $(KILN_TOOLS_CACHE),/var/cache/kiln-tools)
KUBE := $(TOOLS_CACHE)/k8s-$(K8S_VERSION)-etcd-$(ETCD_VERSION)/kube
E2E_CLUSTER := build/e2e-cluster

.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## install the Debian/Ubuntu packages kiln and its tests use (as root)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS) >/dev/null

deps-e2e: deps ## also install what the boot test needs (QEMU, OVMF, debootstrap)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS_E2E) >/dev/null

build: ## build kiln and its helpers (kiln-init, kiln-firstboot) into build/bin
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kiln ./cmd/kiln
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kiln-firstboot ./cmd/kiln-firstboot
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kiln-init ./cmd/kiln-init

tools: ## build the test oracles from the Go module proxy (kubeadm KUBEADM_VERSIONS into build/tools; cached)
	test/tools/kubeadm/build.sh build/tools $(KUBEADM_VERSIONS)

test: tools ## unit and integration tests against the reference tools (rpm, libsolv, kubeadm, ...)
	$(GO) vet ./...
	$(GO) test -count=1 ./...

fuzz: ## run each fuzz target briefly (FUZZTIME=20000x executions)
	@set -e; for spec in $$(./.ci/fuzz-targets); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; echo "fuzz $$pkg $$fn"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg; done

e2e-fixture: ## build the boot test's repository: Debian 12 as signed RPMs (root; cached in build/e2e-fixture)
	$(GO) run ./test/e2e/fixturegen -dir build/e2e-fixture

e2e: e2e-fixture ## build the fixture image with kiln and boot it in QEMU, UEFI and BIOS (root; make deps-e2e)
	$(GO) test -tags e2e -count=1 -timeout 60m -v -run '^TestBoot$$' ./test/e2e/

e2e-el7: e2e-fixture ## build an image from the real CentOS 7.9 packages (../shared/el7-real) and boot it through CentOS's shim and GRUB, UEFI and BIOS, to kiln-init (root)
	$(GO) test -tags e2e -count=1 -timeout 45m -v -run '^TestBootRealCentOS7$$' ./test/e2e/

tools-k8s: ## build real Kubernetes, etcd, CoreDNS, flannel, the CNI plugins and pause from the Go module proxy (cached in TOOLS_CACHE)
	test/tools/k8s/build.sh $(TOOLS_CACHE) $(K8S_VERSION) $(ETCD_VERSION)
	KILN_TOOLS_CACHE=$(TOOLS_CACHE) test/tools/k8s/addons.sh | tail -n 1 > $(TOOLS_CACHE)/addons-current

e2e-cluster-fixture: tools-k8s ## the cluster test's repository (real kubelet, kubeadm, kubectl, containerd) and container images (root)
	@set -e; addons=$$(cat $(TOOLS_CACHE)/addons-current); \
	$(GO) run ./test/e2e/fixturegen -dir build/e2e-fixture-real -kube $(KUBE) -kubernetes-version $(K8S_VERSION) \
		-cni $$addons -cni-version $$(awk '$$1 == "bridge" {sub(/.*@/, "", $$2); sub(/^v/, "", $$2); print $$2}' $$addons/versions.txt); \
	SOURCE_DATE_EPOCH=1700000000 $(GO) run ./test/tools/k8simages -kube $(KUBE) -kubeadm $(dir $(KUBE))bin/kubeadm -addons $$addons -debian-root $$(ls -d build/e2e-fixture-real/cache/tree-* | head -n 1) \
		-kubernetes-version $(K8S_VERSION) -out $(E2E_CLUSTER)/images

e2e-cluster-version: ## the Kubernetes version a cluster bundle for make e2e-cluster must name
	@echo $(K8S_VERSION)

e2e-cluster: e2e-cluster-fixture ## form a real cluster from a kiln image: control plane (UEFI) + worker (BIOS) in QEMU, in a private network namespace (root; E2E_CLUSTER_DIR=bundle)
	$(GO) test -tags e2e -c -o $(E2E_CLUSTER)/e2e.test ./test/e2e/
	$(CLUSTER_TEST)

e2e-ha: e2e-cluster-fixture ## two control planes behind the VIP: the second joins with the CAs from its metadata; power off the VIP holder and time the failover (root)
	$(GO) test -tags e2e -c -o $(E2E_CLUSTER)/e2e-ha.test ./test/e2e/
	cd test/e2e && E2E_KUBERNETES_VERSION=$(K8S_VERSION) E2E_KUBE=$(KUBE) E2E_IMAGES=$(CURDIR)/$(E2E_CLUSTER)/images \
		unshare --net -- $(CURDIR)/$(E2E_CLUSTER)/e2e-ha.test -test.run '^TestHA$$' -test.v -test.timeout 90m

CLUSTER_TEST := cd test/e2e && E2E_KUBERNETES_VERSION=$(K8S_VERSION) E2E_KUBE=$(KUBE) E2E_IMAGES=$(CURDIR)/$(E2E_CLUSTER)/images \
	unshare --net -- $(CURDIR)/$(E2E_CLUSTER)/e2e.test -test.run '^TestCluster$$' -test.v -test.timeout 80m
demo: deps-e2e e2e-cluster-fixture ## form a real two-node Kubernetes cluster from a kiln image in QEMU and show its progress (root)
	@echo "== kiln demo: real Kubernetes $(K8S_VERSION) (kubeadm, kubelet, containerd, etcd, flannel, all built here), a control plane and a worker in QEMU on a private bridge"
	$(GO) test -tags e2e -c -o $(E2E_CLUSTER)/e2e.test ./test/e2e/
	@set -o pipefail; $(CLUSTER_TEST) | grep --line-buffered -E 'KILN-STATUS|Ready after|API server ready|image built|timing: power|kubectl get nodes|^ +(NAME|[a-z0-9-]+ +(Not)?Ready) |--- (PASS|FAIL)|^(ok|FAIL|PASS)'

bench: ## benchmarks: kiln against the reference tools (libsolv, rpm/mke2fs/qemu-img/tar), from one run
	@echo "== resolve (parse included) against libsolv; peak RSS"
	$(GO) test -run '^$$' -bench 'ResolveKubernetesNodeParseIncluded|SolveKubernetesNode' -benchtime 3x ./builder/rpm/solve/
	@echo "== repodata parsing and loading"
	$(GO) test -run '^$$' -bench . -benchtime 3x ./builder/rpm/repo/
	@echo "== package verification against rpmkeys"
	$(GO) test -run '^$$' -bench . -benchtime 3x ./builder/rpm/fetch/
	@echo "== output formats against qemu-img and tar+gzip"
	$(GO) test -run '^$$' -bench . -benchtime 1x ./builder/format/...
	@echo "== disk against sgdisk, mkfs.vfat, mke2fs, dd"
	$(GO) test -run '^$$' -bench . -benchtime 1x ./builder/disk/
	@echo "== a whole warm-cache build against the same work with standard tools (needs root)"
	$(GO) test -run '^$$' -bench BuildVsBaseline -benchtime 1x -timeout 30m ./builder/build/

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build/
	rm -rf build

.PHONY: help deps deps-e2e build tools test fuzz e2e-fixture e2e demo bench lint clean tools-k8s e2e-cluster-fixture e2e-cluster-version e2e-cluster e2e-ha e2e-el7
