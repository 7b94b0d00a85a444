package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/kiln-build/kiln/firstboot/config"
)

// EtcdMemberDir is where a stacked etcd keeps its data; kubeadm reset
// empties it only when the node still has its etcd static pod.
const EtcdMemberDir = "/var/lib/etcd/member"

// checkExistingCluster is the first control plane's guard against a
// second cluster. The first control plane initializes only when it can
// tell that no cluster exists: the endpoint does not pass /healthz with
// the cluster's CA, and every other control plane answers and runs
// nothing of a cluster. When one serves or runs part of a cluster, the
// node joins it instead (a first control plane re-created from its
// metadata after the cluster formed). While any of them does not answer
// at all (still booting, or cut off from this node), it waits: a node
// cut off from a running cluster looks exactly like a node alone, so
// initializing then could start a second cluster.
//
// A node resuming its own init (its API server's static pod exists) has
// nothing to check.
func (a *Agent) checkExistingCluster(ctx context.Context) error {
	if a.host.Exists(APIServerPod) || a.state.JoinExisting != "" {
		return nil
	}
	if a.opts.DryRun {
		a.log.Info("dry run: not probing the endpoint and the other control planes")
		return nil
	}
	var others []config.Peer
	for _, p := range a.cfg.Cluster.ControlPlane.Peers {
		if p.Name != a.cfg.Node.Name {
			others = append(others, p)
		}
	}
	prober, _ := a.health.(PeerProber)
	endpoint := a.n.endpoint
	var found string
	err := a.waitFor(ctx, "every other control plane to answer", a.lim.WaitEndpoint, func(ctx context.Context) error {
		if a.health.Healthy(ctx, endpoint) == nil {
			found = "https://" + endpoint + " passes /healthz"
			return nil
		}
		states := make([]PeerState, len(others))
		var wg sync.WaitGroup
		for i, p := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				states[i] = probePeer(ctx, a.health, prober, p.Address)
			}()
		}
		wg.Wait()
		var silent []string
		for i, p := range others {
			switch states[i] {
			case PeerServing, PeerMember:
				found = p.Name + " (" + p.Address + ") " + states[i].String()
				return nil
			case PeerUnreachable:
				silent = append(silent, p.Name+" ("+p.Address+")")
			}
		}
		if len(silent) > 0 {
			return fmt.Errorf("%s %s: a cluster may be running beyond what this node can reach", strings.Join(silent, ", "), doNotAnswer(len(silent)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if found == "" {
		a.log.Info("no cluster answers: this node initializes it", "peers", len(others))
		return nil
	}
	a.state.JoinExisting = found
	if err := a.save(); err != nil {
		return err
	}
	msg := "a cluster already exists (" + found + "): joining it as a control plane instead of running kubeadm init"
	a.log.Info(msg)
	a.report(ctx, config.PhaseInit, msg, "")
	return nil
}

func doNotAnswer(n int) string {
	if n == 1 {
		return "does not answer"
	}
	return "do not answer"
}

// probePeer asks a PeerProber when there is one, else only whether the
// peer's API server passes /healthz (a peer that fails it counts as not
// answering, so the agent waits rather than guesses).
func probePeer(ctx context.Context, h HealthChecker, p PeerProber, addr string) PeerState {
	if p != nil {
		return p.Probe(ctx, addr)
	}
	if h.Healthy(ctx, net.JoinHostPort(addr, strconv.Itoa(apiServerPort))) == nil {
		return PeerServing
	}
	return PeerUnreachable
}

// refuseForeignEtcdData stops an init that would start etcd over data
// already on the disk: kubeadm init reuses the data directory, and etcd
// would come up as a member of whatever cluster wrote it (another
// cluster, or this one before the node was rebuilt), not as a new one.
func (a *Agent) refuseForeignEtcdData() error {
	if !a.host.Exists(EtcdMemberDir) {
		return nil
	}
	return permanent(errors.New(EtcdMemberDir + " holds etcd data that this node's kubeadm init did not write (from another cluster, or from this one before the node was rebuilt); refusing to initialize over it. If that data is not needed, move /var/lib/etcd away and reboot"))
}
