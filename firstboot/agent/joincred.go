package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

// JoinKubeconfig is the kubeconfig kubeadm join reads with discovery.file:
// the cluster CA and this node's join credential. It is written before
// each join attempt and removed once the node has joined (kubeadm removes
// its own copy, bootstrap-kubelet.conf, after the kubelet's TLS bootstrap).
const JoinKubeconfig = "/etc/kubernetes/kiln-join.conf"

// controlPlaneCredentialTTL is the life of the credential a joining
// control plane mints itself from the CA key: one join attempt, with room
// for a slow kubelet TLS bootstrap.
const controlPlaneCredentialTTL = time.Hour

// refreshHint is what to do about a worker credential that cannot be used.
func (a *Agent) refreshHint() string {
	return fmt.Sprintf("run `kiln metadata --cluster DIR --refresh OLD.yaml` (or `kiln metadata --cluster DIR --node %s`), deliver the new document to the VM and reboot", a.cfg.Node.Name)
}

// checkCredential refuses, before kubeadm runs, a worker credential that
// cannot work: expired, not yet valid, for another node, or not from this
// cluster's CA. A worker that joins with a bootstrap token, and control
// planes, have nothing to check here.
func (a *Agent) checkCredential() error {
	s := a.cfg.Cluster.Secrets
	if a.cfg.Node.Role != config.RoleWorker || s.NodeCredential == nil {
		return nil
	}
	_, err := credential.Check(s.NodeCredential.Cert, s.NodeCredential.Key, s.KubernetesCA.Cert, a.cfg.Node.Name, a.clock.Now())
	var early *credential.NotYetValidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &early):
		return permanent(fmt.Errorf("%w; check the node's clock and NTP servers (cluster.ntpServers)", err))
	}
	return permanent(fmt.Errorf("%w; %s", err, a.refreshHint()))
}

// credentialStale reports whether cfg is a worker's document whose
// credential has expired: a kept copy in that state gives way to what the
// platform holds now, which may be a refreshed document.
func credentialStale(cfg *config.NodeConfig, now time.Time) bool {
	nc := cfg.Cluster.Secrets.NodeCredential
	if cfg.Node.Role != config.RoleWorker || nc == nil {
		return false
	}
	cert, err := config.ParseCertificatePEM(nc.Cert)
	return err == nil && now.After(cert.NotAfter)
}

// writeJoinKubeconfig writes JoinKubeconfig for this node: a worker's
// credential from its metadata, or for a control plane a credential it
// mints from the CA key it carries, so that no control plane needs a
// bootstrap token to join.
func (a *Agent) writeJoinKubeconfig() error {
	c := a.cfg
	s := c.Cluster.Secrets
	var cred credential.Credential
	switch {
	case c.Node.Role == config.RoleControlPlane:
		var err error
		cred, err = credential.Mint(s.KubernetesCA.Cert, s.KubernetesCA.Key, c.Node.Name, a.clock.Now(), controlPlaneCredentialTTL)
		if err != nil {
			return permanent(fmt.Errorf("minting this control plane's join credential: %w", err))
		}
	case s.NodeCredential != nil:
		if err := a.checkCredential(); err != nil {
			return err
		}
		cred = credential.Credential{Cert: s.NodeCredential.Cert, Key: s.NodeCredential.Key}
	default:
		return permanent(errors.New("no join credential"))
	}
	kc, err := credential.Kubeconfig("https://"+a.n.endpoint, c.Cluster.Name, s.KubernetesCA.Cert, cred, c.Node.Name)
	if err != nil {
		return permanent(err)
	}
	return a.host.WriteFile(JoinKubeconfig, kc, 0o600)
}

// usesJoinKubeconfig says whether this node joins with JoinKubeconfig
// rather than a bootstrap token.
func (a *Agent) usesJoinKubeconfig() bool {
	return a.cfg.Node.Role == config.RoleControlPlane || a.cfg.Cluster.Secrets.NodeCredential != nil
}

// removeJoinKubeconfig removes the join credential once it is spent.
func (a *Agent) removeJoinKubeconfig(ctx context.Context) error {
	if !a.usesJoinKubeconfig() || !a.host.Exists(JoinKubeconfig) {
		return nil
	}
	return a.host.Remove(JoinKubeconfig)
}
