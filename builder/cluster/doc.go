// Package cluster makes and keeps a cluster bundle: the directory `kiln
// cluster new` writes, holding a cluster's non-secret description
// (cluster.yaml), its certificate authorities and service-account keys
// (pki/, named as kubeadm names them) and its bootstrap token. From a bundle
// it derives each node's metadata (a config.NodeConfig): control planes get
// the CA and service-account keys, workers only the token, the CA hash and
// the CA certificate.
//
// It lives under builder/ because it is host-side only: the guest agent
// reads the NodeConfig it produces and never links key generation.
//
// Example:
//
//	b, err := cluster.New(cluster.Options{
//		Name: "prod", KubernetesVersion: "v1.34.2", VIP: "10.31.100.100",
//		ControlPlanes: []config.Peer{{Name: "m1", Address: "10.31.100.61"}},
//		Workers:       []config.Peer{{Name: "w1", Address: "10.31.100.101"}},
//	})
//	if err == nil {
//		err = b.Write("prod", cluster.CreateOnly)
//	}
//	nc, err := b.NodeConfig("w1") // token, CA hash and CA certificate; no keys
package cluster
