package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/vsphere"
	"github.com/kiln-build/kiln/builder/vsphere/ovafile"
	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
	"github.com/kiln-build/kiln/firstboot/config"
)

// vsphereEnv starts a simulator and points the GOVC_ variables at it.
func vsphereEnv(t *testing.T) *vspheretest.Sim {
	sim := vspheretest.Start(t)
	for k, v := range map[string]string{
		"GOVC_URL": sim.URL, "GOVC_USERNAME": vspheretest.Username, "GOVC_PASSWORD": vspheretest.Password,
		"GOVC_INSECURE": "true", "GOVC_DATACENTER": vspheretest.Datacenter, "GOVC_DATASTORE": vspheretest.Datastore,
		"GOVC_NETWORK": vspheretest.Network, "GOVC_RESOURCE_POOL": vspheretest.ResourcePool, "GOVC_FOLDER": "",
		"GOVC_TLS_CA_CERTS": "",
	} {
		t.Setenv(k, v)
	}
	return sim
}

// runV runs kiln and checks that neither its output nor its error shows
// the password.
func runV(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := run(t, args...)
	if strings.Contains(out, vspheretest.Password) || err != nil && strings.Contains(err.Error(), vspheretest.Password) {
		t.Fatalf("kiln %s printed the password", strings.Join(args, " "))
	}
	return out, err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runV(t, args...)
	if err != nil {
		t.Fatalf("kiln %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestVSphereUploadCLI(t *testing.T) {
	sim := vsphereEnv(t)
	dir := t.TempDir()
	ova := vspheretest.WriteOVA(t, dir, "kiln-node", 1)
	a, err := ovafile.Open(t.Context(), ova)
	if err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "vsphere", "upload", ova, "--name", "tmpl", "--snapshot")
	if want := "tmpl: imported kiln-node.ova (sha256 " + a.SHA256 + "), snapshot kiln-base\n"; out != want {
		t.Errorf("upload printed %q, want %q", out, want)
	}
	out = mustRun(t, "vsphere", "upload", ova, "--name", "tmpl", "--snapshot", "-o", "json")
	var res vsphere.UploadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Action != vsphere.Unchanged || res.SHA256 != a.SHA256 {
		t.Errorf("re-upload -o json: %+v %v\n%s", res, err, out)
	}

	// Another OVA: refused without --replace (exit 2), replaced with it.
	other := vspheretest.WriteOVA(t, dir, "kiln-node-2", 2)
	_, err = runV(t, "vsphere", "upload", other, "--name", "tmpl")
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "use --replace") {
		t.Errorf("upload of another OVA: %v", err)
	}
	if out := mustRun(t, "vsphere", "upload", other, "--name", "tmpl", "--replace"); !strings.HasPrefix(out, "tmpl: replaced") {
		t.Errorf("replace printed %q", out)
	}

	// A tampered disk is refused before anything reaches vCenter.
	b, _ := os.ReadFile(ova)
	disk := a.Files[2]
	b[disk.Offset+disk.Size/3] ^= 0x5a
	bad := dir + "/tampered.ova"
	os.WriteFile(bad, b, 0o644)
	_, err = runV(t, "vsphere", "upload", bad, "--name", "tampered")
	if !errors.Is(err, ovafile.ErrDigestMismatch) || !strings.Contains(err.Error(), "kiln-node-disk1.vmdk: SHA256 digest does not match the manifest") {
		t.Errorf("tampered OVA: %v", err)
	}
	for _, n := range []string{"tampered", "tampered-kiln-" + a.SHA256[:12]} {
		if len(sim.VMs(t, n)) != 0 {
			t.Errorf("%s was created from a tampered OVA", n)
		}
	}

	// Settings errors name the flag and the variable; flags win over the environment.
	_, err = runV(t, "vsphere", "upload", ova, "--name", "x", "--datastore", "NoSuchDS")
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), `datastore "NoSuchDS" (--datastore or GOVC_DATASTORE): not found`) {
		t.Errorf("missing datastore: %v", err)
	}
	_, err = runV(t, "vsphere", "upload", ova, "--name", "x", "--password", "wrong")
	if err == nil || !strings.Contains(err.Error(), "logging in to") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong --password: %v", err)
	}
	t.Setenv("GOVC_URL", strings.Replace(sim.URL, "https://", "https://someone:"+vspheretest.Password+"@", 1))
	t.Setenv("GOVC_USERNAME", "")
	t.Setenv("GOVC_PASSWORD", "")
	_, err = runV(t, "vsphere", "upload", ova, "--name", "x", "--insecure=false")
	if err == nil || !strings.Contains(err.Error(), "connecting to https://127.0.0.1") ||
		!strings.Contains(err.Error(), ": vCenter's certificate is not trusted: x509: certificate signed by unknown authority (trust the CA that signed it with --tls-ca-certs FILE.pem or GOVC_TLS_CA_CERTS, or skip the check with --insecure or GOVC_INSECURE=1 on a test system)") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestVSphereCloneStatusDestroyCLI(t *testing.T) {
	sim := vsphereEnv(t)
	dir := t.TempDir()
	ova := vspheretest.WriteOVA(t, dir, "kiln-node", 1)
	mustRun(t, "vsphere", "upload", ova, "--name", "tmpl", "--snapshot")
	bundle := newSeedCluster(t) // m1 m2 m3 w1
	mustRun(t, "cluster", "add-node", "--cluster", bundle, "--worker", "w2=10.31.100.102")

	out := mustRun(t, "vsphere", "clone", "--template", "tmpl", "--cluster", bundle, "--linked")
	want := "m1: created, powered on\nm2: created, powered on\nm3: created, powered on\nw1: created, powered on\nw2: created, powered on\n"
	if out != want {
		t.Errorf("clone printed:\n%s\nwant:\n%s", out, want)
	}
	out = mustRun(t, "vsphere", "clone", "--template", "tmpl", "--cluster", bundle, "--linked")
	if !strings.Contains(out, "m1: exists, left alone\n") || strings.Contains(out, "created") {
		t.Errorf("second clone printed:\n%s", out)
	}
	_, err := runV(t, "vsphere", "clone", "--template", "tmpl", "--cluster", bundle, "--linked", "--disk-size", "40", "--prefix", "big-")
	if err == nil || !strings.Contains(err.Error(), "make full clones (without --linked) to grow the disk") {
		t.Errorf("linked with --disk-size: %v", err)
	}

	// Scale-out: only w4 is created.
	mustRun(t, "cluster", "add-node", "--cluster", bundle, "--worker", "w4=10.31.100.104")
	out = mustRun(t, "vsphere", "clone", "--template", "tmpl", "--cluster", bundle, "--linked", "-o", "json")
	var res []vsphere.NodeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("clone -o json: %v\n%s", err, out)
	}
	var created []string
	for _, r := range res {
		if r.Action == vsphere.Created {
			created = append(created, r.Node)
		}
	}
	if strings.Join(created, ",") != "w4" || len(res) != 6 {
		t.Errorf("scale-out created %v of %d", created, len(res))
	}

	// Status: nothing reported yet, then progress, then done or failed.
	out = mustRun(t, "vsphere", "status", "--cluster", bundle)
	if !strings.Contains(out, "NODE  ROLE") || !strings.Contains(out, "m1    control-plane  m1  poweredOn  -   -") {
		t.Errorf("status:\n%s", out)
	}
	set := func(node string, phase config.Phase, msg, errMsg string) {
		s := config.Status{Node: node, Phase: phase, Message: msg, Error: errMsg, Time: time.Now().UTC()}
		sim.Reconfigure(t, node, map[string]string{vsphere.KeyStatus: strings.TrimPrefix(s.StatusLine(), config.StatusLinePrefix)})
	}
	for _, n := range []string{"m1", "m2", "m3", "w1", "w2"} {
		set(n, config.PhaseDone, "node is Ready", "")
	}
	set("w4", config.PhaseJoin, "kubeadm join", "")
	sim.Reconfigure(t, "m1", map[string]string{"SET.guest.ipAddress": "10.31.100.61"})
	out = mustRun(t, "vsphere", "status", "--cluster", bundle, "-o", "json")
	var st []vsphere.NodeStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 6 || st[0].IP != "10.31.100.61" || st[0].Phase != "done" || st[5].Phase != "join" {
		t.Errorf("status -o json: %v\n%s", err, out)
	}
	secrets := func() map[string]bool {
		t.Helper()
		var st []vsphere.NodeStatus
		if err := json.Unmarshal([]byte(mustRun(t, "vsphere", "status", "--cluster", bundle, "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, s := range st {
			m[s.Node] = s.Secrets
		}
		return m
	}
	_, err = runV(t, "vsphere", "status", "--cluster", bundle, "--wait", "--keep-metadata", "--timeout", "300ms", "--interval", "50ms")
	if err == nil || !strings.Contains(err.Error(), "timed out waiting for first boot: not done: w4 (at join)") {
		t.Errorf("status --wait --keep-metadata with w4 joining: %v", err)
	}
	if m := secrets(); !m["m1"] || !m["w4"] {
		t.Errorf("after status --wait --keep-metadata, secrets in the VMs: %v; want all kept", m)
	}
	// Long enough for the simulator to reconfigure five VMs under load.
	_, err = runV(t, "vsphere", "status", "--cluster", bundle, "--wait", "--timeout", "5s", "--interval", "50ms")
	if err == nil || !strings.Contains(err.Error(), "timed out waiting for first boot: not done: w4 (at join)") {
		t.Errorf("status --wait with w4 joining: %v", err)
	}
	if m := secrets(); m["m1"] || m["w2"] || !m["w4"] {
		t.Errorf("after status --wait, secrets in the VMs: %v; want the done nodes' cleared, w4's (joining) kept", m)
	}
	if _, err := runV(t, "vsphere", "status", "--cluster", bundle, "--keep-metadata"); err == nil || exitCode(err) != 2 {
		t.Errorf("--keep-metadata without --wait: %v, want a usage error", err)
	}
	set("w4", config.PhaseFailed, "", "kubeadm join: token expired")
	out, err = runV(t, "vsphere", "status", "--cluster", bundle, "--wait", "--interval", "50ms")
	if err == nil || exitCode(err) != 1 || err.Error() != "node w4 failed: kubeadm join: token expired" || !strings.Contains(out, "kubeadm join: token expired") {
		t.Errorf("status --wait with w4 failed: %v\n%s", err, out)
	}
	// Scrub: w4 failed and keeps its secrets; scrub says so and exits 1.
	out, err = runV(t, "vsphere", "scrub", "--cluster", bundle)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "1 nodes still hold secrets") || !strings.Contains(err.Error(), "w4: first boot failed: kubeadm join: token expired") ||
		!strings.Contains(out, "m1: scrubbed\n") || !strings.Contains(out, "w4: skipped, its secrets stay in the VM configuration: first boot failed") {
		t.Errorf("scrub with w4 failed: %v\n%s", err, out)
	}
	out, stderr, err := runSplit(t, "vsphere", "status", "--cluster", bundle)
	if err != nil || !strings.Contains(out, "SECRETS") || !strings.Contains(out, "w4    worker         w4  poweredOn  -             failed  in VM") || !strings.Contains(out, "m1    control-plane  m1  poweredOn  10.31.100.61  done    cleared") ||
		stderr != "secrets (the bootstrap token, a control plane's CA keys) are still in the VM configuration of: w4; kiln vsphere scrub --cluster "+bundle+" --wait clears each once its first boot is done\n" {
		t.Errorf("status after scrub: %v\n%s\nstderr: %s", err, out, stderr)
	}
	set("w4", config.PhaseJoin, "kubeadm join", "")
	go func() {
		time.Sleep(200 * time.Millisecond)
		set("w4", config.PhaseDone, "node is Ready", "")
	}()
	out = mustRun(t, "vsphere", "scrub", "--cluster", bundle, "--wait", "--interval", "50ms")
	if strings.Count(out, ": scrubbed\n") != 6 {
		t.Errorf("scrub --wait:\n%s", out)
	}
	out = mustRun(t, "vsphere", "status", "--cluster", bundle, "--wait", "--interval", "50ms")
	if strings.Count(out, " done ") != 6 || strings.Contains(out, "in VM") {
		t.Errorf("status --wait when all are done:\n%s", out)
	}

	// Destroy: needs --yes without a terminal; refuses a foreign VM.
	_, err = runV(t, "vsphere", "destroy", "--cluster", bundle)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "pass --yes") {
		t.Errorf("destroy without --yes: %v", err)
	}
	out = mustRun(t, "vsphere", "destroy", "--cluster", bundle, "--node", "w4", "--yes")
	if out != "w4: destroyed\n" || len(sim.VMs(t, "w4")) != 0 {
		t.Errorf("destroy w4 printed %q", out)
	}
	sim.CreateVM(t, "w4")
	_, err = runV(t, "vsphere", "destroy", "--cluster", bundle, "--yes")
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "a VM named w4 exists and is not node w4 of cluster prod") || len(sim.VMs(t, "m1")) != 1 {
		t.Errorf("destroy with a foreign w4: %v", err)
	}
	_, err = runV(t, "vsphere", "clone", "--template", "tmpl", "--cluster", bundle)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "a VM named w4 exists and is not node w4") {
		t.Errorf("clone with a foreign w4: %v", err)
	}
}

func TestVSphereHelpAndUsage(t *testing.T) {
	root := newRootCommand()
	vs, _, err := root.Find([]string{"vsphere"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(vs.Commands(), vs) {
		if c.Example == "" || c.Long == "" {
			t.Errorf("kiln %s has no example or long help", c.Name())
		}
	}
	for _, args := range [][]string{
		{"vsphere", "clone", "--cluster", "x"},
		{"vsphere", "clone", "--template", "t"},
		{"vsphere", "status"},
		{"vsphere", "status", "--cluster", "x", "-o", "yaml"},
		{"vsphere", "upload"},
		{"vsphere", "clone", "--template", "t", "--cluster", "x", "--memory", "1001"},
	} {
		if _, err := run(t, args...); err == nil || exitCode(err) != 2 {
			t.Errorf("kiln %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

// status, scrub and destroy only look at the cluster: the public part of
// the bundle (cluster.yaml, pki/ca.crt) is all they need.
func TestVSphereWatcherNeedsNoKeys(t *testing.T) {
	vsphereEnv(t)
	dir := t.TempDir()
	ova := vspheretest.WriteOVA(t, dir, "kiln-node", 1)
	mustRun(t, "vsphere", "upload", ova, "--name", "tmpl", "--snapshot")
	bundle := newSeedCluster(t)
	mustRun(t, "vsphere", "clone", "--template", "tmpl", "--cluster", bundle, "--linked")
	watch := publicCopy(t, bundle)
	if out := mustRun(t, "vsphere", "status", "--cluster", watch); !strings.Contains(out, "m1    control-plane  m1  poweredOn") {
		t.Errorf("status on the public files:\n%s", out)
	}
	mustRun(t, "vsphere", "scrub", "--cluster", watch, "--node", "w1", "--force")
	if out := mustRun(t, "vsphere", "destroy", "--cluster", watch, "--node", "w1", "--yes"); out != "w1: destroyed\n" {
		t.Errorf("destroy on the public files printed %q", out)
	}
	if _, err := runV(t, "vsphere", "clone", "--template", "tmpl", "--cluster", watch); err == nil {
		t.Error("clone without the keys succeeded")
	}
}
