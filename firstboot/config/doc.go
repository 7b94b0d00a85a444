// Package config is the node metadata schema: the contract between `kiln`,
// which writes one NodeConfig per node (kiln cluster new, kiln metadata),
// and the kiln-firstboot agent, which reads it on first boot to prepare the
// host and init or join the cluster.
//
// A NodeConfig is a YAML or JSON document with apiVersion kiln/v1 and kind
// NodeConfig. Parse and Load decode it strictly (an unknown field is an
// error naming its path and line), fill the defaults and validate it; every
// user mistake is a *Error naming the field, found with errors.As or Errors.
// MarshalYAML and MarshalJSON write it back deterministically. Encode and
// Decode wrap it for string channels such as vSphere guestinfo, and Status
// is what the agent reports back. docs/metadata.md documents every field.
//
// Example:
//
//	cfg, err := config.Load(os.Stdin)
//	var ce *config.Error
//	if errors.As(err, &ce) {
//		log.Fatalf("metadata: %v", err) // e.g. "line 14: cluster.controlPlane.peers[2].address: "10.0.0.300" is not an IP address"
//	}
//	first := cfg.Cluster.ControlPlane.Peers[0].Name == cfg.Node.Name // this node runs kubeadm init
package config
