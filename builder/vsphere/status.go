package vsphere

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/firstboot/config"
)

// NodeStatus is where one node is: its VM and what the agent last
// reported through guestinfo.kiln.status.
type NodeStatus struct {
	Node string      `json:"node"`
	Role config.Role `json:"role"`
	VM   string      `json:"vm"`
	// Exists is false when there is no VM of that name.
	Exists     bool   `json:"exists"`
	PowerState string `json:"powerState,omitempty"`
	// IP is the guest's primary address as VMware Tools reports it.
	IP string `json:"ip,omitempty"`
	// Phase, Message and Error are the agent's last report; Phase is empty
	// until the agent reports.
	Phase   config.Phase `json:"phase,omitempty"`
	Message string       `json:"message,omitempty"`
	Error   string       `json:"error,omitempty"`
	Updated time.Time    `json:"updated,omitzero"`
	// Secrets says the VM's configuration still holds the node's metadata
	// (guestinfo.kiln.metadata): the bootstrap token and, on a control
	// plane, the cluster's CA keys, readable by whoever can read the VM's
	// configuration until Scrub clears it.
	Secrets bool `json:"secrets"`
	// Problem says what is wrong with the VM itself: it is not the node
	// (Foreign: a name collision) or its status does not parse.
	Problem string `json:"problem,omitempty"`
	Foreign bool   `json:"foreign,omitempty"`
}

// Done says the node finished first boot.
func (s NodeStatus) Done() bool { return s.Phase == config.PhaseDone }

// Failed says the node cannot finish: the agent failed, or the VM is not
// the node.
func (s NodeStatus) Failed() bool { return s.Phase == config.PhaseFailed || s.Foreign }

// HoldingSecrets lists the nodes whose VM configuration still holds their
// metadata's secrets.
func HoldingSecrets(st []NodeStatus) []string {
	var out []string
	for _, s := range st {
		if s.Secrets {
			out = append(out, s.Node)
		}
	}
	return out
}

// StatusOptions say which nodes to look at.
type StatusOptions struct {
	Nodes  []string // empty: all
	Prefix string
}

// Status reads the state of the bundle's nodes, in bundle order.
func (c *Client) Status(ctx context.Context, s *cluster.Spec, opts StatusOptions) ([]NodeStatus, error) {
	nodes, err := selectNodes(s, opts.Nodes)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes {
		names = append(names, VMName(opts.Prefix, n.Name))
	}
	found, err := c.findVMs(ctx, names...)
	if err != nil {
		return nil, err
	}
	var out []NodeStatus
	for _, n := range nodes {
		st := NodeStatus{Node: n.Name, Role: n.Role, VM: VMName(opts.Prefix, n.Name)}
		vm, err := single(st.VM, found[st.VM])
		switch {
		case err != nil:
			st.Exists, st.Foreign, st.Problem = true, true, err.Error()
		case vm == nil:
		case !isNode(vm, s, n.Name):
			st.Exists, st.Foreign = true, true
			st.Problem = fmt.Sprintf("not node %s of cluster %s (it is %s)", n.Name, s.Name, foreign1(vm, s, n.Name).is())
		default:
			st.Exists = true
			st.Secrets = strings.TrimSpace(vm.extra[KeyMetadata]) != ""
			st.PowerState = string(vm.Runtime.PowerState)
			if vm.Guest != nil {
				st.IP = vm.Guest.IpAddress
			}
			if raw := strings.TrimSpace(vm.extra[KeyStatus]); raw != "" {
				var cs config.Status
				if err := json.Unmarshal([]byte(raw), &cs); err != nil {
					st.Problem = "unreadable " + KeyStatus + ": " + err.Error()
				} else {
					st.Phase, st.Message, st.Error, st.Updated = cs.Phase, cs.Message, cs.Error, cs.Time
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// WaitOptions say what to wait for and how often to look.
type WaitOptions struct {
	StatusOptions
	// Interval between polls; 0 means 5 seconds.
	Interval time.Duration
	// Update, when set, gets every poll's statuses.
	Update func([]NodeStatus)
	// Scrub clears a node's metadata from its VM's configuration as soon
	// as its first boot is done (see Scrub), so that a control plane's CA
	// keys stay there no longer than they are needed. A node whose
	// clearing fails keeps Secrets and a Problem saying why; Wait tries
	// again on the next poll while it waits.
	Scrub bool
}

// NodeFailedError is a node whose first boot failed.
type NodeFailedError struct {
	Node, Message string
}

func (e *NodeFailedError) Error() string {
	return fmt.Sprintf("node %s failed: %s", e.Node, e.Message)
}

// Wait polls Status until every node is done (nil), one has failed (a
// *NodeFailedError), or ctx ends (an error listing the nodes not done);
// it returns the last statuses read in each case.
func (c *Client) Wait(ctx context.Context, s *cluster.Spec, opts WaitOptions) ([]NodeStatus, error) {
	interval := opts.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var last []NodeStatus
	for {
		st, err := c.Status(ctx, s, opts.StatusOptions)
		if err != nil {
			if ctx.Err() != nil && last != nil {
				return last, waitTimeout(ctx, last)
			}
			return last, err
		}
		if opts.Scrub {
			c.scrubDone(ctx, st)
		}
		last = st
		if opts.Update != nil {
			opts.Update(st)
		}
		done := true
		for _, s := range st {
			if s.Failed() {
				msg := s.Error
				if msg == "" {
					msg = s.Message
				}
				if s.Problem != "" {
					msg = s.Problem
				}
				if msg == "" {
					msg = "no reason given"
				}
				return st, &NodeFailedError{Node: s.Node, Message: msg}
			}
			done = done && s.Done()
		}
		if done {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, waitTimeout(ctx, st)
		case <-time.After(interval):
		}
	}
}

// scrubDone clears the metadata of each done node that still holds it,
// and updates its status.
func (c *Client) scrubDone(ctx context.Context, st []NodeStatus) {
	for i := range st {
		s := &st[i]
		if !s.Done() || !s.Secrets || s.Foreign {
			continue
		}
		if err := c.clearMetadata(ctx, s.VM); err != nil {
			s.Problem = "clearing " + KeyMetadata + ": " + err.Error()
			continue
		}
		s.Secrets = false
	}
}

func waitTimeout(ctx context.Context, st []NodeStatus) error {
	var pending []string
	for _, s := range st {
		switch {
		case s.Done():
		case !s.Exists:
			pending = append(pending, s.Node+" (no VM)")
		case s.Phase == "":
			pending = append(pending, s.Node+" ("+orUnknown(s.PowerState)+", no report yet)")
		default:
			pending = append(pending, s.Node+" (at "+string(s.Phase)+")")
		}
	}
	what := "waiting"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		what = "timed out waiting"
	}
	return fmt.Errorf("%s for first boot: not done: %s: %w", what, strings.Join(pending, ", "), ctx.Err())
}

func orUnknown(s string) string {
	if s == "" {
		return "power state unknown"
	}
	return s
}
