package vsphere

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
	"github.com/kiln-build/kiln/firstboot/config"
)

func statusJSON(node string, phase config.Phase, msg, errMsg string) string {
	s := config.Status{Node: node, Phase: phase, Message: msg, Error: errMsg, Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	line := s.StatusLine()
	return strings.TrimPrefix(line, config.StatusLinePrefix)
}

// report sets what the agent on node would report, as info-set does on
// real vSphere.
func report(t *testing.T, sim *vspheretest.Sim, node string, phase config.Phase, msg, errMsg, ip string) {
	extra := map[string]string{KeyStatus: statusJSON(node, phase, msg, errMsg)}
	if ip != "" {
		extra["SET.guest.ipAddress"] = ip
	}
	sim.Reconfigure(t, node, extra)
}

func TestStatusAndWait(t *testing.T) {
	sim, c, _ := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	if _, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true, Nodes: []string{"m1", "m2", "m3", "w1"}}); err != nil {
		t.Fatal(err)
	}
	report(t, sim, "m1", config.PhaseDone, "node is Ready", "", "10.31.100.61")
	report(t, sim, "m2", config.PhaseJoin, "joining the control plane", "", "10.31.100.62")

	st, err := c.Status(ctx, &b.Spec, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]NodeStatus{}
	for _, s := range st {
		got[s.Node] = s
	}
	if len(st) != 5 || st[0].Node != "m1" || st[4].Node != "w2" {
		t.Fatalf("statuses %+v", st)
	}
	if s := got["m1"]; !s.Exists || s.PowerState != "poweredOn" || s.IP != "10.31.100.61" || s.Phase != config.PhaseDone || s.Message != "node is Ready" || s.Updated.IsZero() {
		t.Errorf("m1 %+v", s)
	}
	if s := got["m2"]; s.Phase != config.PhaseJoin || s.Message != "joining the control plane" || s.Done() || s.Failed() {
		t.Errorf("m2 %+v", s)
	}
	if s := got["m3"]; !s.Exists || s.Phase != "" {
		t.Errorf("m3 %+v", s)
	}
	if s := got["w2"]; s.Exists || s.Role != config.RoleWorker {
		t.Errorf("w2 %+v", s)
	}

	// Not all done: the wait times out and names who is not done. The
	// deadline passes on the third poll, however slow the host.
	tctx := newPollDeadline(ctx)
	var polls int
	_, err = c.Wait(tctx, &b.Spec, WaitOptions{Interval: 10 * time.Millisecond, Update: func([]NodeStatus) {
		if polls++; polls == 3 {
			tctx.expire()
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "timed out waiting for first boot: not done: m2 (at join), m3 (poweredOn, no report yet), w1 (poweredOn, no report yet), w2 (no VM)") {
		t.Errorf("wait: %v", err)
	}
	if polls != 3 {
		t.Errorf("%d polls, want 3 (the wait polls until its deadline)", polls)
	}

	// One node fails: the wait ends with its message.
	report(t, sim, "w1", config.PhaseFailed, "", "kubeadm join: connection refused", "")
	_, err = c.Wait(ctx, &b.Spec, WaitOptions{Interval: 10 * time.Millisecond, StatusOptions: StatusOptions{Nodes: []string{"m1", "w1"}}})
	var nf *NodeFailedError
	if !errors.As(err, &nf) || nf.Node != "w1" || nf.Message != "kubeadm join: connection refused" {
		t.Errorf("wait with a failed node: %v", err)
	}

	// The nodes finish while kiln waits.
	go func() {
		time.Sleep(100 * time.Millisecond)
		for _, n := range []string{"m2", "m3"} {
			report(t, sim, n, config.PhaseDone, "node is Ready", "", "")
		}
	}()
	st, err = c.Wait(ctx, &b.Spec, WaitOptions{Interval: 20 * time.Millisecond, StatusOptions: StatusOptions{Nodes: []string{"m1", "m2", "m3"}}})
	if err != nil || len(st) != 3 || !st[1].Done() || !st[2].Done() {
		t.Errorf("wait for done: %+v %v", st, err)
	}

	if st[0].Secrets == false || st[1].Secrets == false {
		t.Errorf("a wait without Scrub cleared metadata: %+v", st)
	}

	// With Scrub, each node's metadata leaves its VM's configuration as
	// soon as it is done, and only then.
	st, err = c.Wait(ctx, &b.Spec, WaitOptions{Interval: 20 * time.Millisecond, Scrub: true, StatusOptions: StatusOptions{Nodes: []string{"m1", "m2", "m3"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Secrets || s.Problem != "" {
			t.Errorf("after a scrubbing wait: %+v", s)
		}
	}
	st, _ = c.Status(ctx, &b.Spec, StatusOptions{})
	for _, s := range st {
		if want := s.Node == "w1"; s.Secrets != want {
			t.Errorf("%s: Secrets %v after a scrubbing wait over m1-m3, want %v (w1 failed, w2 has no VM)", s.Node, s.Secrets, want)
		}
	}

	// A status that is not JSON is a problem shown, not a crash.
	sim.Reconfigure(t, "m3", map[string]string{KeyStatus: "{not json"})
	st, _ = c.Status(ctx, &b.Spec, StatusOptions{Nodes: []string{"m3"}})
	if !strings.Contains(st[0].Problem, "unreadable guestinfo.kiln.status") {
		t.Errorf("m3 %+v", st[0])
	}

	// A VM kiln did not clone, with a node's name, is reported and fails a wait.
	sim.CreateVM(t, "w2")
	st, _ = c.Status(ctx, &b.Spec, StatusOptions{Nodes: []string{"w2"}})
	if !st[0].Foreign || !strings.Contains(st[0].Problem, "not node w2 of cluster prod") {
		t.Errorf("w2 %+v", st[0])
	}
	if _, err := c.Wait(ctx, &b.Spec, WaitOptions{StatusOptions: StatusOptions{Nodes: []string{"w2"}}}); !errors.As(err, &nf) || nf.Node != "w2" {
		t.Errorf("wait on a foreign VM: %v", err)
	}
}

func TestDestroy(t *testing.T) {
	sim, c, _ := withTemplate(t, false)
	ctx := context.Background()
	b := newBundle(t)
	if _, err := c.Clone(ctx, b, CloneOptions{Template: "tmpl", PowerOn: true, Nodes: []string{"m1", "m2", "w1"}}); err != nil {
		t.Fatal(err)
	}
	sim.CreateVM(t, "w2")
	_, err := c.Destroy(ctx, &b.Spec, DestroyOptions{})
	var fe *ForeignVMError
	if !errors.As(err, &fe) || fe.VM != "w2" {
		t.Fatalf("destroy with a foreign VM: %v", err)
	}
	if len(sim.VMs(t, "m1")) != 1 {
		t.Fatal("a refused destroy deleted m1")
	}
	res, err := c.Destroy(ctx, &b.Spec, DestroyOptions{Nodes: []string{"m1", "m2", "m3", "w1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(res); got != "m1:destroyed m2:destroyed m3:absent w1:destroyed" {
		t.Errorf("results %s", got)
	}
	for _, n := range []string{"m1", "m2", "w1"} {
		if len(sim.VMs(t, n)) != 0 {
			t.Errorf("%s still exists", n)
		}
	}
	if len(sim.VMs(t, "w2")) != 1 || !sim.VM(t, "tmpl").Config.Template {
		t.Error("destroy touched the foreign VM or the template")
	}
}

// pollDeadline is a context whose deadline passes when the test says so,
// not on the clock: a starved test host cannot make it pass early or late.
type pollDeadline struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newPollDeadline(parent context.Context) *pollDeadline {
	return &pollDeadline{Context: parent, done: make(chan struct{})}
}

func (d *pollDeadline) expire()               { d.once.Do(func() { close(d.done) }) }
func (d *pollDeadline) Done() <-chan struct{} { return d.done }

func (d *pollDeadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
