// Package cluster makes and keeps a cluster bundle: the directory `kiln
// cluster new` writes, holding a cluster's non-secret description
// (cluster.yaml), its certificate authorities and service-account keys
// (pki/, named as kubeadm names them) and its bootstrap token. From a bundle
// it derives each node's metadata (a config.NodeConfig): control planes get
// the CA and service-account keys and the token kubeadm init makes; workers
// the CA certificate, its hash and a join credential minted for that node
// that expires (package firstboot/credential), never a key of the
// cluster's or the token.
//
// It lives under builder/ because it is host-side only: the guest agent
// reads the NodeConfig it produces and never links CA generation.
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
//	nc, err := b.NodeConfig("w1") // CA certificate and a 24-hour credential for w1; no CA key
package cluster
