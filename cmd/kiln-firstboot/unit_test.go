package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/assets"
	"github.com/kiln-build/kiln/firstboot/agent"
)

// The unit runs the agent until it writes its done marker, and is not
// ordered before kubelet (the agent and kubeadm start kubelet with
// systemctl, which would wait for the agent's own unit).
func TestUnit(t *testing.T) {
	unit := string(assets.FirstbootUnit)
	for _, want := range []string{"ConditionPathExists=!" + agent.DoneFile, "ExecStart=/usr/bin/kiln-firstboot\n", "StandardOutput=journal+console", "After=network-online.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("kiln-firstboot.service lacks %q", want)
		}
	}
	for _, l := range strings.Split(unit, "\n") {
		if strings.HasPrefix(l, "Before=") && strings.Contains(l, "kubelet") {
			t.Errorf("kiln-firstboot.service has %q: systemctl start kubelet from the agent would deadlock", l)
		}
	}
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "kiln-firstboot.service")
	os.WriteFile(p, assets.FirstbootUnit, 0o644)
	out, _ := exec.Command(bin, "verify", p).CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The binary is not installed here; anything else is a mistake in the unit.
		if l != "" && !strings.Contains(l, "/usr/bin/kiln-firstboot is not executable") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}
