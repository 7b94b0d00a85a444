package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/kiln-build/kiln/firstboot/host"
)

// Where the agent keeps what it knows, on the node (under the root).
const (
	StateDir   = "/var/lib/kiln"
	StateFile  = StateDir + "/state.json"
	StatusFile = StateDir + "/status.json"
	// DoneFile marks a node whose first boot finished; the unit has
	// ConditionPathExists=!/var/lib/kiln/done.
	DoneFile = StateDir + "/done"
	// MetadataCopy is the metadata the node booted with, kept (mode 0600)
	// so that a restart resumes with the same document even after the
	// platform's copy was scrubbed.
	MetadataCopy = "/etc/kiln/metadata.yaml"
)

// State is what the agent has done so far, kept in StateFile and rewritten
// atomically after every change, so that a reboot at any point resumes at
// the first step not done.
type State struct {
	Version int    `json:"version"`
	Node    string `json:"node,omitempty"`
	// FirstStart is when the agent first ran on this node; every status's
	// elapsed counts from it, across reboots.
	FirstStart time.Time             `json:"firstStart,omitzero"`
	Steps      map[string]*StepState `json:"steps"`
	// Milestones are when the agent first saw the moments named by
	// config's Milestone constants.
	Milestones map[string]time.Time `json:"milestones,omitempty"`
	// JoinExisting, on the first control plane, is where the agent found
	// a cluster already answering before kubeadm init; the node then
	// joins it instead of initializing a second one.
	JoinExisting string `json:"joinExisting,omitempty"`
}

// StepState records one step. Started without Done means the agent stopped
// (crash, reboot, kill) while the step ran.
type StepState struct {
	Started  time.Time `json:"started,omitzero"`
	Done     time.Time `json:"done,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
}

const stateVersion = 1

func (s *State) step(name string) *StepState {
	if s.Steps == nil {
		s.Steps = map[string]*StepState{}
	}
	st := s.Steps[name]
	if st == nil {
		st = &StepState{}
		s.Steps[name] = st
	}
	return st
}

// mark records the first time the agent saw a milestone.
func (s *State) mark(name string, now time.Time) {
	if s.Milestones == nil {
		s.Milestones = map[string]time.Time{}
	}
	if _, seen := s.Milestones[name]; !seen {
		s.Milestones[name] = now.UTC()
	}
}

// startedAt fills FirstStart, for a new state and for one an older agent
// wrote without it (then the first step's start is the best guess).
func (s *State) startedAt(now time.Time) {
	if !s.FirstStart.IsZero() {
		return
	}
	s.FirstStart = now.UTC()
	for _, st := range s.Steps {
		if !st.Started.IsZero() && st.Started.Before(s.FirstStart) {
			s.FirstStart = st.Started
		}
	}
}

// done reports whether a step finished.
func (s *State) done(name string) bool {
	st := s.Steps[name]
	return st != nil && !st.Done.IsZero()
}

// LoadState reads the state under root; a missing file is an empty state.
func LoadState(root string) (*State, error) {
	h := &host.Host{Root: root}
	data, err := h.ReadFile(StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: stateVersion, Steps: map[string]*StepState{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", StateFile, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w (remove it to start over)", StateFile, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("reading %s: version %d, this agent knows %d", StateFile, s.Version, stateVersion)
	}
	if s.Steps == nil {
		s.Steps = map[string]*StepState{}
	}
	return &s, nil
}

func saveState(h *host.Host, s *State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return h.WriteFile(StateFile, append(data, '\n'), 0o600)
}

// Done reports whether the node under root finished its first boot.
func Done(root string) bool {
	_, err := os.Lstat((&host.Host{Root: root}).Path(DoneFile))
	return err == nil
}
