package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/agent"
	"github.com/kiln-build/kiln/firstboot/config"
)

// slowCommands makes the fake clock pass while commands run: the image
// import and kubeadm init take the time a real node would spend in them.
func slowCommands(clock *fakeClock, costs map[string]time.Duration) func(context.Context, string) (bool, []byte, error) {
	return func(_ context.Context, line string) (bool, []byte, error) {
		for prefix, d := range costs {
			if strings.HasPrefix(line, prefix) {
				clock.mu.Lock()
				clock.now = clock.now.Add(d)
				clock.mu.Unlock()
			}
		}
		return false, nil, nil
	}
}

func timing(t *testing.T, s config.Status, step string) config.StepTiming {
	t.Helper()
	for _, st := range s.Timings {
		if st.Step == step {
			return st
		}
	}
	t.Fatalf("the final status has no timing for step %s: %+v", step, s.Timings)
	return config.StepTiming{}
}

// checkElapsed checks the statuses a node sent count up from 0 and that
// the last is the final done status, at the clock's time.
func checkElapsed(t *testing.T, p *fakePlatform, start, end time.Time) config.Status {
	t.Helper()
	p.mu.Lock()
	statuses := append([]config.Status(nil), p.statuses...)
	p.mu.Unlock()
	if len(statuses) == 0 || statuses[0].Elapsed != 0 {
		t.Fatalf("first status %+v, want elapsed 0", statuses)
	}
	for i := 1; i < len(statuses); i++ {
		if statuses[i].Elapsed < statuses[i-1].Elapsed {
			t.Errorf("elapsed went back from %v to %v at %q", statuses[i-1].Elapsed, statuses[i].Elapsed, statuses[i].Message)
		}
		if i < len(statuses)-1 && (statuses[i].Timings != nil || statuses[i].Milestones != nil) {
			t.Errorf("status %q carries timings; only the final one should", statuses[i].Message)
		}
	}
	final := statuses[len(statuses)-1]
	if final.Phase != config.PhaseDone || final.Elapsed != config.Seconds(end.Sub(start)) {
		t.Errorf("final status: phase %s elapsed %v, want done after %v", final.Phase, final.Elapsed, config.Seconds(end.Sub(start)))
	}
	return final
}

func TestFinalStatusCarriesStepTimings(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	m1 := single(t, c, b, "m1", "10.31.100.61")
	start := m1.clock.Now()
	m1.node.write("var/lib/kiln/images/pause.tar", "an image")
	m1.node.hook = slowCommands(m1.clock, map[string]time.Duration{
		"ctr -n k8s.io images import":                           41500 * time.Millisecond,
		"kubeadm init --config":                                 90 * time.Second,
		"kubectl --kubeconfig /etc/kubernetes/admin.conf apply": 7 * time.Second,
	})
	var reboot context.CancelFunc
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1.run(ctx, t, c, &reboot)
	if m1.err != nil {
		t.Fatal(m1.err)
	}
	final := checkElapsed(t, m1.platform, start, m1.clock.Now())

	var steps []string
	for _, st := range final.Timings {
		steps = append(steps, st.Step)
		if st.End < st.Start || st.Seconds != config.Seconds(time.Duration((st.End-st.Start)*float64(time.Second))) || st.Attempts < 1 {
			t.Errorf("timing %+v does not add up", st)
		}
	}
	want := "metadata hostname network address hosts time swap kernel selinux firewall containerd images kubelet kubeadm-version load-balancer existing-cluster init cni cert-renewal ready"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("timed steps\n%s\nwant the plan's order\n%s", got, want)
	}
	if im := timing(t, final, "images"); im.Seconds != 41.5 || im.Phase != config.PhaseHost {
		t.Errorf("images took %vs in phase %s, want 41.5s in host", im.Seconds, im.Phase)
	}
	init := timing(t, final, "init")
	if init.Seconds != 90 || init.Attempts != 1 || init.Phase != config.PhaseInit {
		t.Errorf("init: %+v, want 90s, one attempt", init)
	}
	if md := timing(t, final, "metadata"); md.Start != 0 {
		t.Errorf("metadata started at %v, want 0", md.Start)
	}
	ready := timing(t, final, "ready")
	if got := final.Milestones; len(got) != 2 || got[config.MilestoneAPIReady] != init.End || got[config.MilestoneNodeReady] != ready.End {
		t.Errorf("milestones %v, want api-ready at init's end %v and node-ready at ready's end %v", got, init.End, ready.End)
	}

	// status.json keeps the final status, timings and all.
	data, _ := os.ReadFile(filepath.Join(m1.node.root, "var/lib/kiln/status.json"))
	var onDisk config.Status
	if err := json.Unmarshal(data, &onDisk); err != nil || len(onDisk.Timings) != len(final.Timings) || onDisk.Elapsed != final.Elapsed {
		t.Errorf("status.json = %s (%v), want the final status", data, err)
	}
}

// A reboot in the middle of kubeadm init: elapsed counts from the agent's
// first start on the first boot, the machine's down time included, and
// init's timing from its first attempt.
func TestElapsedSurvivesReboots(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	w1 := single(t, c, b, "w1", "10.31.100.101")
	m1 := single(t, c, b, "m1", "10.31.100.61")
	var m1reboot, w1reboot context.CancelFunc
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1.run(ctx, t, c, &m1reboot)
	if m1.err != nil {
		t.Fatal(m1.err)
	}

	start := w1.clock.Now()
	rebooted := false
	slow := slowCommands(w1.clock, map[string]time.Duration{"kubeadm join --config": 20 * time.Second})
	w1.node.hook = func(ctx context.Context, line string) (bool, []byte, error) {
		if strings.HasPrefix(line, "kubeadm join --config") && !rebooted {
			rebooted = true
			w1.clock.mu.Lock()
			w1.clock.now = w1.clock.now.Add(10*time.Second + 5*time.Minute) // 10s into the join, then 5 minutes down
			w1.clock.mu.Unlock()
			w1reboot()
			return true, nil, context.Canceled
		}
		return slow(ctx, line)
	}
	w1.run(ctx, t, c, &w1reboot)
	if w1.err != nil || w1.runs != 2 {
		t.Fatalf("w1: %v after %d boots, want done after 2", w1.err, w1.runs)
	}
	final := checkElapsed(t, w1.platform, start, w1.clock.Now())
	join := timing(t, final, "join")
	if join.Seconds != 10+300+20 || join.Attempts != 2 {
		t.Errorf("join: %+v, want 330s over 2 attempts (the one the reboot cut, then the one that joined)", join)
	}
	endpoint := timing(t, final, "endpoint")
	if got := final.Milestones[config.MilestoneAPIReady]; got != endpoint.End || got > join.Start {
		t.Errorf("api-ready at %v, want when the endpoint answered (%v), before the join (%v)", got, endpoint.End, join.Start)
	}

	st, err := agent.LoadState(w1.node.root)
	if err != nil || !st.FirstStart.Equal(start.UTC()) {
		t.Errorf("state: first start %v (%v), want %v", st.FirstStart, err, start.UTC())
	}
}

// A state written by an agent that did not keep its first start: the
// earliest step start stands in for it.
func TestFirstStartOfAnOlderState(t *testing.T) {
	b := sharedBundle(t)
	c := newFakeCluster("v1.34.2", b, "10.31.100.100:8443")
	m1 := single(t, c, b, "m1", "10.31.100.61")
	m1.clock.now = m1.clock.now.Truncate(time.Second)
	begun := m1.clock.Now().Add(-time.Hour).UTC()
	m1.node.write("var/lib/kiln/state.json", `{"version":1,"node":"m1","steps":{"metadata":{"started":"`+begun.Format(time.RFC3339)+`","done":"`+begun.Format(time.RFC3339)+`"}}}`)
	m1.node.write("etc/kiln/metadata.yaml", string(m1.platform.data))
	var reboot context.CancelFunc
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1.run(ctx, t, c, &reboot)
	if m1.err != nil {
		t.Fatal(m1.err)
	}
	if first := m1.platform.statuses[0]; first.Elapsed != 3600 {
		t.Errorf("first status after resuming an older state: elapsed %v, want 3600 (since the metadata step)", first.Elapsed)
	}
}
