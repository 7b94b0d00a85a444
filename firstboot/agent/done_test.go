package agent

import (
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/config"
)

// The final status says Ready only when the ready step asked the API server:
// a dry run asks nothing, and with cni none the node stays NotReady.
func TestDoneMessageSaysReadyOnlyWhenAKubeletSaidSo(t *testing.T) {
	cfg := &config.NodeConfig{Node: config.Node{Name: "w1", Role: config.RoleWorker}}
	withReady := []step{{name: "join"}, {name: "ready"}}
	for _, tt := range []struct {
		name      string
		dryRun    bool
		steps     []step
		wantReady bool
	}{
		{"real run that waited", false, withReady, true},
		{"dry run", true, withReady, false},
		{"cni none: no ready step", false, []step{{name: "join"}}, false},
	} {
		a := &Agent{cfg: cfg, opts: Options{DryRun: tt.dryRun}}
		got := a.doneMessage(tt.steps)
		if strings.Contains(got, "is a Ready") != tt.wantReady {
			t.Errorf("%s: doneMessage = %q, want a Ready claim: %v", tt.name, got, tt.wantReady)
		}
	}
}
