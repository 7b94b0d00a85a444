package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status is one progress report from the agent. It travels as the JSON value
// of guestinfo.kiln.status (vSphere), the GCE guest attribute kiln/status,
// and always as a StatusLine on the serial console.
type Status struct {
	Node    string    `json:"node"`
	Phase   Phase     `json:"phase"`
	Message string    `json:"message,omitempty"`
	Error   string    `json:"error,omitempty"` // set only in PhaseFailed
	Time    time.Time `json:"time"`
	// Elapsed is the seconds since the agent first started on this node,
	// to the millisecond. The start is kept in the agent's state, so it
	// counts across reboots (and the time the machine was down).
	Elapsed float64 `json:"elapsed"`
	// Timings, set only in the final PhaseDone status, say when each step
	// of first boot ran, in the order of the plan.
	Timings []StepTiming `json:"timings,omitempty"`
	// Milestones, set only in the final PhaseDone status, say when the
	// agent first saw a moment (MilestoneAPIReady, MilestoneNodeReady), in
	// seconds since the agent first started.
	Milestones map[string]float64 `json:"milestones,omitempty"`
	// CertExpiry is the node's kubeadm leaf certificate that expires
	// first, in the final PhaseDone status and in each status of
	// `kiln-firstboot renew-certs`; absent before the node has any.
	CertExpiry *CertExpiry `json:"certExpiry,omitempty"`
}

// CertExpiry names a certificate (a node path; for one embedded in a
// kubeconfig, the kubeconfig and its user) and when it expires. It never
// holds the certificate.
type CertExpiry struct {
	Name     string    `json:"name"`
	NotAfter time.Time `json:"notAfter"`
}

// StepTiming is when one step ran: Start and End in seconds since the
// agent first started, Seconds the difference. A step retried (or resumed
// after a reboot) counts from its first attempt to its success; Attempts
// says how many it took.
type StepTiming struct {
	Step     string  `json:"step"`
	Phase    Phase   `json:"phase"`
	Start    float64 `json:"start"`
	End      float64 `json:"end"`
	Seconds  float64 `json:"seconds"`
	Attempts int     `json:"attempts,omitempty"`
}

// The milestones a node reports.
const (
	// MilestoneAPIReady is when the node first saw the cluster's API
	// server answer: on the first control plane when kubeadm init (which
	// waits for it) returned, on the others when the control-plane
	// endpoint's /healthz answered before kubeadm join.
	MilestoneAPIReady = "api-ready"
	// MilestoneNodeReady is when the node's Ready condition was first True.
	MilestoneNodeReady = "node-ready"
)

// Seconds renders d as status seconds: to the millisecond, never negative
// (a wall clock stepped back by time sync gives 0, not a negative time).
func Seconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// Phase is a step of first boot. A node goes through them in the order
// below, skipping what its role does not do; Done and Failed are final.
type Phase string

// The phases, in order.
const (
	PhaseMetadata     Phase = "metadata"      // metadata found, decoded and validated
	PhaseHost         Phase = "host"          // hostname, network, /etc/hosts, time, kernel settings
	PhaseLoadBalancer Phase = "load-balancer" // VIP static pods written (control planes)
	PhaseInit         Phase = "init"          // kubeadm init (the first control plane)
	PhaseJoin         Phase = "join"          // kubeadm join (every other node)
	PhaseCNI          Phase = "cni"           // the pod network applied (the first control plane)
	PhaseReady        Phase = "ready"         // waiting for the kubelet to report the node Ready (not final)
	PhaseDone         Phase = "done"          // the node is Ready and first boot is over
	PhaseFailed       Phase = "failed"        // stopped; Error says why
)

// Phases lists every phase in order.
var Phases = []Phase{PhaseMetadata, PhaseHost, PhaseLoadBalancer, PhaseInit, PhaseJoin, PhaseCNI, PhaseReady, PhaseDone, PhaseFailed}

// StatusLinePrefix starts every status line on the serial console, so a
// host can pick them out of the boot log.
const StatusLinePrefix = "KILN-STATUS "

// StatusLine renders s as one console line, without the newline:
// KILN-STATUS {"node":"m1","phase":"init",...}.
func (s Status) StatusLine() string {
	b, _ := json.Marshal(s) // a Status always marshals
	return StatusLinePrefix + string(b)
}

// ParseStatusLine reads a status line back. ok is false when the line is
// not a status line at all (other console output).
func ParseStatusLine(line string) (s Status, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	i := strings.Index(line, StatusLinePrefix)
	if i < 0 {
		return Status{}, false, nil
	}
	if err := json.Unmarshal([]byte(line[i+len(StatusLinePrefix):]), &s); err != nil {
		return Status{}, true, fmt.Errorf("parsing status line: %w", err)
	}
	return s, true, nil
}
