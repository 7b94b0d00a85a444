# kiln — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/kiln-build/kiln/builder/buildinfo.version=$(VERSION)
BIN := build/bin
FUZZTIME ?= 10s
# Real kubeadm binaries the tests use as an oracle: the last v1beta3 line and a v1beta4 one.
KUBEADM_VERSIONS ?= v1.30.14 v1.34.4

# Debian packages the tests compare against (reference tools) and the build needs.
DEPS := rpm createrepo-c python3-solv libsolv-tools dnf e2fsprogs dosfstools gdisk mtools \
	qemu-utils libcap2-bin grub-common grub-efi-amd64-bin grub-pc-bin genisoimage xorriso \
	haproxy keepalived shellcheck openssl xz-utils zstd bzip2 cpio busybox-static gnupg \
	ca-certificates git
# And what the boot test adds.
DEPS_E2E := qemu-system-x86 ovmf debootstrap

.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

fuzz: ## run each fuzz target briefly (FUZZTIME=10s)
	@set -e; for spec in $$(./.ci/fuzz-targets); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; echo "fuzz $$pkg $$fn"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; done

e2e: ## boot built images in QEMU (UEFI and BIOS)
	@echo "e2e: the boot test lands with the boot-test issue; nothing to run yet" >&2; exit 1

bench: ## benchmarks: figures against reference tools, from one run
	$(GO) test -run '^$$' -bench . -benchmem ./builder/... 

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build/
	rm -rf build

.PHONY: help deps deps-e2e build tools test fuzz e2e bench lint clean
