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
}

// Phase is a step of first boot. A node goes through them in the order
// below, skipping what its role does not do; Ready and Failed are final.
type Phase string

// The phases, in order.
const (
	PhaseMetadata     Phase = "metadata"      // metadata found, decoded and validated
	PhaseHost         Phase = "host"          // hostname, network, /etc/hosts, time, kernel settings
	PhaseLoadBalancer Phase = "load-balancer" // VIP static pods written (control planes)
	PhaseInit         Phase = "init"          // kubeadm init (the first control plane)
	PhaseJoin         Phase = "join"          // kubeadm join (every other node)
	PhaseCNI          Phase = "cni"           // the pod network applied (the first control plane)
	PhaseDone         Phase = "done"          // the node is Ready and first boot is over
	PhaseFailed       Phase = "failed"        // stopped; Error says why
)

// Phases lists every phase in order.
var Phases = []Phase{PhaseMetadata, PhaseHost, PhaseLoadBalancer, PhaseInit, PhaseJoin, PhaseCNI, PhaseDone, PhaseFailed}

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
