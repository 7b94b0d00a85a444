// Package vmware reads a node's metadata from VMware guestinfo and reports
// progress back through it.
//
// The host side (kiln vsphere clone) puts the metadata in the VM's
// extraConfig as guestinfo.kiln.metadata, with guestinfo.kiln.metadata.encoding
// set to "base64", "gzip+base64" or left empty for plain text. The guest
// reads both with the RPC "info-get": through the VMware backdoor (an I/O
// port that only exists inside a VMware VM) or, when that is not usable,
// by running vmware-rpctool from open-vm-tools.
//
// Guestinfo stays readable by any process in the guest, so once the agent
// has saved what it needs it calls ScrubMetadata, which overwrites the
// secret keys from inside the guest ("info-set"). On vSphere a value set
// from the guest overrides the VM's extraConfig value for the running VM
// only: it survives guest reboots but the VM's configuration (visible to
// vCenter users with the right privilege) still holds the original until
// the host side clears it, and a power-off/power-on brings it back. A
// guest cannot set an empty value, so scrubbed keys hold a single space,
// which Metadata reads as "no metadata".
//
// Progress goes to guestinfo.kiln.status (ReportStatus), which the host
// side polls through VMware Tools.
//
//	p := vmware.New(vmware.Options{})
//	md, err := p.Metadata(ctx) // raw YAML/JSON
//	if err == nil {
//		err = p.ScrubMetadata(ctx)
//	}
package vmware
