// Package e2e is kiln's boot test (`make e2e`): it builds the fixture
// repository (package fixture: Debian 12 packages repackaged as signed
// RPMs, with stand-ins for the Kubernetes packages), builds an image from
// test/e2e/fixture.yaml with kiln as a user would, boots it in QEMU with
// UEFI and with BIOS firmware, and checks on the serial console that
// kiln's initramfs mounted the root filesystem by UUID and grew it, that
// systemd reached multi-user.target, that the packages' scriptlets ran,
// and what kiln-firstboot did with the node's metadata.
//
// The tests carry the e2e build tag: go test -tags e2e ./test/e2e/
package e2e
