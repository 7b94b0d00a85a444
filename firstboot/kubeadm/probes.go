package kubeadm

import (
	"errors"
	"fmt"
	"strings"
)

// ControlPlaneComponents are the static pods kubeadm writes on a control plane with a
// stacked etcd, by their container and kubeadm patch target names.
var ControlPlaneComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// Probes loosens the health probes kubeadm puts on the control plane's static pods. Its
// defaults (each probe times out after 15 s; the kubelet restarts a container after 8
// failed liveness probes 10 s apart, or when the startup probes have not passed after 24,
// i.e. 4 minutes) are for quick hosts: on a starved one (overcommitted, or emulated) an API
// server under load misses them, is restarted, and its restart, the most expensive thing
// it does, starves the others, which are restarted in turn. Zero fields keep kubeadm's
// values. The periods stay kubeadm's (10 s).
type Probes struct {
	// TimeoutSeconds is each liveness and startup probe's timeout.
	TimeoutSeconds int
	// LivenessFailureThreshold is how many liveness probes in a row must fail before the
	// kubelet restarts the container.
	LivenessFailureThreshold int
	// StartupFailureThreshold is how many startup probes may fail before the kubelet gives
	// up on a starting container and restarts it.
	StartupFailureThreshold int
}

// IsZero reports whether nothing is changed.
func (p Probes) IsZero() bool { return p == Probes{} }

// Validate checks each field is unset or within what the kubelet accepts and a person
// could mean: timeouts up to 10 minutes, thresholds up to 1000.
func (p Probes) Validate() error {
	var errs []error
	check := func(name string, v, max int) {
		if v < 0 || v > max {
			errs = append(errs, fmt.Errorf("%s: %d is not between 1 and %d", name, v, max))
		}
	}
	check("timeoutSeconds", p.TimeoutSeconds, 600)
	check("livenessFailureThreshold", p.LivenessFailureThreshold, 1000)
	check("startupFailureThreshold", p.StartupFailureThreshold, 1000)
	return errors.Join(errs...)
}

// Patches returns kubeadm patch files for Probes (file name → content), for the
// directory named by Params.PatchesDir: one strategic-merge patch per control-plane
// component, which kubeadm applies to the static pod manifest it writes (kubeadm init,
// join --control-plane and upgrade, given the directory). Nil when p is zero.
func (p Probes) Patches() map[string][]byte {
	if p.IsZero() {
		return nil
	}
	probe := func(threshold int) string {
		var b strings.Builder
		if p.TimeoutSeconds > 0 {
			fmt.Fprintf(&b, "      timeoutSeconds: %d\n", p.TimeoutSeconds)
		}
		if threshold > 0 {
			fmt.Fprintf(&b, "      failureThreshold: %d\n", threshold)
		}
		return b.String()
	}
	out := map[string][]byte{}
	for _, c := range ControlPlaneComponents {
		var b strings.Builder
		fmt.Fprintf(&b, "# written by kiln-firstboot: %s's probes for a slow host (cluster.controlPlane.probes)\n", c)
		fmt.Fprintf(&b, "spec:\n  containers:\n  - name: %s\n", c)
		if s := probe(p.LivenessFailureThreshold); s != "" {
			b.WriteString("    livenessProbe:\n" + s)
		}
		if s := probe(p.StartupFailureThreshold); s != "" {
			b.WriteString("    startupProbe:\n" + s)
		}
		out[c+"+strategic.yaml"] = []byte(b.String())
	}
	return out
}
