// Package assets holds the files kiln bakes into every image: the first
// boot agent's systemd unit and containerd's CRI configuration.
package assets

import _ "embed"

// FirstbootUnit is kiln-firstboot.service.
//
//go:embed units/kiln-firstboot.service
var FirstbootUnit []byte

// ContainerdConfig is /etc/containerd/config.toml: containerd.io ships one
// that disables the CRI plugin; kubelet needs it on, with the systemd
// cgroup driver kubeadm configures.
//
//go:embed containerd/config.toml
var ContainerdConfig []byte
