package ova

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// VM is the virtual hardware the OVF descriptor asks vSphere for.
type VM struct {
	// Name is the virtual system's name and the base of the file names
	// inside the OVA (NAME.ovf, NAME.mf, NAME-disk1.vmdk).
	Name string
	// CPUs and MemoryMiB size the machine.
	CPUs      int
	MemoryMiB int
	// HardwareVersion is the vmx-NN virtual hardware family, e.g. 19
	// (ESXi 7.0U2 and later); 0 means 15 (ESXi 6.7U2).
	HardwareVersion int
	// GuestOS is vSphere's guest id (vmw:osType), e.g. "centos9_64Guest",
	// "rhel9_64Guest" or "otherLinux64Guest" (the default).
	GuestOS string
	// Firmware is "efi" (the default) or "bios".
	Firmware string
	// Network is the name of the network the VMXNET3 adapter connects to;
	// it is mapped to a real network at import. Default "VM Network".
	Network string
	// ExtraConfig entries go into the VMX (guestinfo.* defaults, for
	// example). disk.EnableUUID=TRUE is always set, so the guest sees disk
	// serial numbers, which Kubernetes storage drivers rely on.
	ExtraConfig map[string]string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)

func (vm VM) withDefaults() (VM, error) {
	if !nameRE.MatchString(vm.Name) {
		return vm, fmt.Errorf("vm name %q: want 1 to 80 letters, digits, '.', '_' or '-'", vm.Name)
	}
	if vm.CPUs < 1 || vm.CPUs > 768 {
		return vm, fmt.Errorf("vm cpus %d: want 1 to 768", vm.CPUs)
	}
	if vm.MemoryMiB < 4 || vm.MemoryMiB%4 != 0 {
		return vm, fmt.Errorf("vm memoryMiB %d: want a multiple of 4, at least 4", vm.MemoryMiB)
	}
	if vm.HardwareVersion == 0 {
		vm.HardwareVersion = 15
	}
	if vm.HardwareVersion < 7 || vm.HardwareVersion > 99 {
		return vm, fmt.Errorf("vm hardwareVersion %d: want 7 to 99 (vmx-NN)", vm.HardwareVersion)
	}
	if vm.GuestOS == "" {
		vm.GuestOS = "otherLinux64Guest"
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_]+Guest$`).MatchString(vm.GuestOS) {
		return vm, fmt.Errorf("vm guestOS %q: want a vSphere guest id such as centos9_64Guest", vm.GuestOS)
	}
	switch vm.Firmware {
	case "":
		vm.Firmware = "efi"
	case "efi", "bios":
	default:
		return vm, fmt.Errorf("vm firmware %q: want efi or bios", vm.Firmware)
	}
	if vm.Network == "" {
		vm.Network = "VM Network"
	}
	for k := range vm.ExtraConfig {
		if k == "" || strings.ContainsAny(k, " \t\r\n\"=") {
			return vm, fmt.Errorf("vm extraConfig key %q: must be non-empty without spaces, quotes or '='", k)
		}
	}
	return vm, nil
}

// DiskFileName is the name of the vmdk inside the OVA.
func (vm VM) DiskFileName() string { return vm.Name + "-disk1.vmdk" }

// cimOSType maps guest ids to the DMTF CIM_OperatingSystem type that goes
// into ovf:id; vSphere itself uses vmw:osType.
func cimOSType(guest string) int {
	switch {
	case strings.HasPrefix(guest, "centos") && strings.Contains(guest, "64"):
		return 107 // CentOS 64-bit
	case strings.HasPrefix(guest, "rhel") && strings.Contains(guest, "64"):
		return 80 // RedHat Enterprise Linux 64-bit
	default:
		return 101 // Linux 64-bit
	}
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s)) // writes to a bytes.Buffer never fail
	return b.String()
}

// descriptor returns the OVF 1.0 descriptor for vm with one
// streamOptimized disk of capacity bytes, stored as vm.DiskFileName() of
// diskFileSize bytes. vm must have been through withDefaults.
func (vm VM) descriptor(diskFileSize, capacity int64) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	n := esc(vm.Name)
	net := esc(vm.Network)
	p(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="%s" ovf:id="file1" ovf:size="%d"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="%d" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="%s">
      <Description>The %s network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="%s">
    <Info>A virtual machine</Info>
    <Name>%s</Name>
    <OperatingSystemSection ovf:id="%d" vmw:osType="%s">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-%02d</vssd:VirtualSystemType>
      </System>
`, esc(vm.DiskFileName()), diskFileSize, capacity, net, net, n, n, cimOSType(vm.GuestOS), esc(vm.GuestOS), n, vm.HardwareVersion)
	p(`      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>%d virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>%d</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>%dMB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>%d</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>%s</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on &quot;%s&quot;</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="%s"/>
`, vm.CPUs, vm.CPUs, vm.MemoryMiB, vm.MemoryMiB, net, net, vm.Firmware)
	extra := map[string]string{"disk.EnableUUID": "TRUE"}
	for k, v := range vm.ExtraConfig {
		extra[k] = v
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p("      <vmw:ExtraConfig ovf:required=\"false\" vmw:key=\"%s\" vmw:value=\"%s\"/>\n", esc(k), esc(extra[k]))
	}
	p("    </VirtualHardwareSection>\n  </VirtualSystem>\n</Envelope>\n")
	return []byte(b.String())
}
