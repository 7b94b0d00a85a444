// Package vsphere puts kiln images and clusters on VMware vSphere with
// govmomi: it uploads an OVA as a template (Upload), clones a cluster
// bundle's nodes from it with each node's metadata in guestinfo (Clone),
// reads the nodes' first-boot progress back (Status, Wait) and removes
// them (Destroy).
//
// Settings follow govc's environment (GOVC_URL, GOVC_USERNAME, ...), so a
// shell set up for govc works as it is; the password never appears in an
// error or in output (Secret). Everything kiln creates is marked in the
// VM's extraConfig (KeyImageSHA256 on templates, KeyCluster, KeyClusterCA
// and KeyNode on nodes): a re-run recognises its own VMs and leaves them
// alone, and a VM kiln did not make is never changed or deleted.
//
//	c, err := vsphere.Connect(ctx, vsphere.SettingsFromEnv(os.Getenv))
//	if err != nil {
//		return err
//	}
//	defer c.Close(ctx)
//	a, err := ovafile.Open(ctx, "out/rocky9-k8s.ova") // digests checked here
//	if err != nil {
//		return err
//	}
//	_, err = c.Upload(ctx, a, vsphere.UploadOptions{Name: "rocky9-k8s", Snapshot: true})
//	b, err := cluster.Load("prod")
//	_, err = c.Clone(ctx, b, vsphere.CloneOptions{Template: "rocky9-k8s", Linked: true, PowerOn: true})
//	_, err = c.Wait(ctx, b, vsphere.WaitOptions{})
package vsphere
