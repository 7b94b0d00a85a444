// Package kubeadm renders the kubeadm configuration file the guest agent hands to
// `kubeadm init` or `kubeadm join` on a node.
//
// One Params value describes the node (its role, its addresses, the cluster's endpoint and
// networks, the bootstrap token, the CA hashes); Render turns it into a multi-document YAML
// file in the kubeadm API version the Kubernetes version speaks: kubeadm.k8s.io/v1beta3 for
// Kubernetes 1.22 to 1.30, kubeadm.k8s.io/v1beta4 from 1.31 on. Versions before 1.22 are
// refused. The output is byte-stable: the same Params always give the same bytes.
//
// The package does not run kubeadm; its tests use a real kubeadm (built by `make tools`)
// as the oracle for what it renders.
//
// Example:
//
//	cfg, err := kubeadm.Render(kubeadm.Params{
//		Role:                 kubeadm.RoleInit,
//		KubernetesVersion:    "v1.34.4",
//		ControlPlaneEndpoint: "10.0.0.100:8443",
//		AdvertiseAddress:     "10.0.0.11",
//		NodeName:             "cp-1",
//		BootstrapToken:       "abcdef.0123456789abcdef",
//	})
//	if err != nil {
//		return fmt.Errorf("rendering kubeadm config: %w", err)
//	}
//	// write cfg to /etc/kiln/kubeadm.yaml, then: kubeadm init --config /etc/kiln/kubeadm.yaml
package kubeadm
