package vsphere

import (
	"context"
	"testing"

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

	res, err := c.Scrub(ctx, &b.Spec, ScrubOptions{})
	if err != nil {
		t.Fatal(err)
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

	if _, err := c.Scrub(ctx, &b.Spec, ScrubOptions{Nodes: []string{"m2"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if v := extraOf(t, sim, "m2")[KeyMetadata]; v != "" {
		t.Error("--force did not clear m2")
	}
}
