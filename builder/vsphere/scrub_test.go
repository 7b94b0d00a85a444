package vsphere

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
)

func TestScrubClearsMetadataOfDoneNodes(t *testing.T) {
	sim, c, _ := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	if _, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true, Nodes: []string{"m1", "m2"}}); err != nil {
		t.Fatal(err)
	}
	report(t, sim, "m1", config.PhaseDone, "node is Ready", "", "")
	report(t, sim, "m2", config.PhaseJoin, "joining", "", "")

	// Status says which nodes hold secrets in their VM configuration.
	st, err := c.Status(ctx, &b.Spec, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(HoldingSecrets(st), " "); got != "m1 m2" {
		t.Errorf("holding secrets before scrub: %q", got)
	}

	// m2 is not done: it is skipped, and that is an error naming it and why.
	res, err := c.Scrub(ctx, &b.Spec, ScrubOptions{})
	var ns *NotScrubbedError
	if !errors.As(err, &ns) || len(ns.Nodes) != 1 || ns.Nodes[0] != "m2: first boot not done (at join)" ||
		!strings.Contains(err.Error(), "1 nodes still hold secrets (the bootstrap token, a control plane's CA keys) in their VM configuration: m2: first boot not done (at join)") {
		t.Errorf("scrub with m2 joining: %v", err)
	}
	actions := map[string]NodeAction{}
	for _, r := range res {
		actions[r.Node] = r.Action
	}
	if actions["m1"] != Scrubbed || actions["m2"] != Skipped || actions["m3"] != Absent {
		t.Errorf("actions %v", actions)
	}
	if v := extraOf(t, sim, "m1")[KeyMetadata]; v != "" {
		t.Errorf("m1 still carries %d bytes of metadata", len(v))
	}
	if v := extraOf(t, sim, "m2")[KeyMetadata]; v == "" {
		t.Error("m2's metadata was cleared before its first boot finished")
	}
	// The marks stay: status, destroy and clone still know the VM.
	if extraOf(t, sim, "m1")[KeyNode] != "m1" {
		t.Error("scrub removed kiln's marks")
	}
	st, _ = c.Status(ctx, &b.Spec, StatusOptions{})
	if got := strings.Join(HoldingSecrets(st), " "); got != "m2" {
		t.Errorf("holding secrets after scrub: %q", got)
	}

	if _, err := c.Scrub(ctx, &b.Spec, ScrubOptions{Nodes: []string{"m2"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if v := extraOf(t, sim, "m2")[KeyMetadata]; v != "" {
		t.Error("--force did not clear m2")
	}
	// Nothing left to clear: done, without error.
	if res, err := c.Scrub(ctx, &b.Spec, ScrubOptions{}); err != nil || res[0].Action != Scrubbed {
		t.Errorf("scrub again: %v %v", actions, err)
	}
}

// TestScrubWait: --wait clears each node as its first boot finishes, and
// names the nodes left when one fails or the wait ends.
func TestScrubWait(t *testing.T) {
	sim, c, _ := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	nodes := []string{"m1", "w1", "w2"}
	if _, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true, Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	report(t, sim, "m1", config.PhaseDone, "node is Ready", "", "")
	report(t, sim, "w1", config.PhaseJoin, "joining", "", "")
	report(t, sim, "w2", config.PhaseJoin, "joining", "", "")

	// The wait ends before w1 and w2 are done.
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := c.Scrub(tctx, &b.Spec, ScrubOptions{Nodes: nodes, Wait: true, Interval: 20 * time.Millisecond})
	var ns *NotScrubbedError
	if !errors.As(err, &ns) || strings.Join(ns.Nodes, "; ") != "w1: first boot not done (at join); timed out waiting; w2: first boot not done (at join); timed out waiting" {
		t.Errorf("wait that times out: %v", err)
	}

	// w1 finishes while scrub waits; w2 fails.
	var reported []string
	go func() {
		time.Sleep(100 * time.Millisecond)
		report(t, sim, "w1", config.PhaseDone, "node is Ready", "", "")
		report(t, sim, "w2", config.PhaseFailed, "", "kubeadm join: token expired", "")
	}()
	res, err := c.Scrub(ctx, &b.Spec, ScrubOptions{Nodes: nodes, Wait: true, Interval: 20 * time.Millisecond,
		Report: func(r NodeResult) { reported = append(reported, r.Node+":"+string(r.Action)) }})
	if !errors.As(err, &ns) || strings.Join(ns.Nodes, "; ") != "w2: first boot failed: kubeadm join: token expired" {
		t.Errorf("wait with w2 failing: %v", err)
	}
	if got := actions(res); got != "m1:scrubbed w1:scrubbed w2:skipped" {
		t.Errorf("results %s", got)
	}
	if got := strings.Join(reported, " "); got != "m1:scrubbed w1:scrubbed w2:skipped" {
		t.Errorf("reported %s", got)
	}
	if extraOf(t, sim, "w1")[KeyMetadata] != "" || extraOf(t, sim, "w2")[KeyMetadata] == "" {
		t.Error("w1 not cleared, or w2 cleared after it failed")
	}
}
