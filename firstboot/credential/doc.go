// Package credential mints and checks a node's join credential: a client
// certificate for the user system:node:NAME in the group system:nodes,
// signed by the cluster's Kubernetes CA, that expires. It is what kubeadm
// join authenticates with instead of a bootstrap token (discovery.file, a
// kubeconfig holding the CA and the certificate, see Kubeconfig): kubeadm
// writes it to bootstrap-kubelet.conf, the kubelet uses it once to ask for
// its own certificate, and the CSR approver grants that request because
// kubeadm binds system:nodes to selfnodeclient
// (kubeadm:node-autoapprove-certificate-rotation). After that the node
// holds only the certificate the cluster issued it.
//
// Unlike a bootstrap token, such a credential names one node (the Node
// authorizer and NodeRestriction confine it to that node's objects), needs
// nothing made in the cluster beforehand, so `kiln metadata` can mint it
// from the bundle's CA months after the cluster formed, and becomes
// useless at NotAfter.
//
// Example:
//
//	cred, err := credential.Mint(caCertPEM, caKeyPEM, "w1", now, 24*time.Hour)
//	if err != nil {
//		return err
//	}
//	// cred.Cert and cred.Key go into the worker's metadata; on the node:
//	err = credential.Check(cred.Cert, caCertPEM, "w1", time.Now())
package credential
