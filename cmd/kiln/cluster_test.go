package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/credential"
)

// run executes the kiln command line in-process and returns stdout and the
// error as main would print it.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runSplit(t, args...)
	return out, err
}

// runSplit is run that also returns what went to stderr.
func runSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func newSeedCluster(t *testing.T, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prod")
	args := append([]string{"cluster", "new", "--name", "prod", "--kubernetes-version", "v1.34.2", "--vip", "10.31.100.100",
		"--control-plane", "m1=10.31.100.61", "--control-plane", "m2=10.31.100.62", "--control-plane", "m3=10.31.100.63",
		"--worker", "w1=10.31.100.101", "-o", dir}, extra...)
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("kiln %s: %v", strings.Join(args, " "), err)
	}
	if !strings.HasPrefix(out, "wrote cluster bundle "+dir) {
		t.Errorf("cluster new printed %q", out)
	}
	return dir
}

func TestClusterNewShowMetadata(t *testing.T) {
	dir := newSeedCluster(t, "--prefix", "24", "--gateway", "10.31.100.1", "--dns", "10.31.0.53", "--interface", "ens192", "--ntp", "10.31.0.1,ntp.example.com",
		"--leader-election", "lease=137s,renew=107s,retry=26s", "--probes", "timeout=60s,startup=90")

	out, err := run(t, "cluster", "show", "--cluster", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"endpoint:         10.31.100.100:8443", "keepalived-haproxy, VRRP router 51", "pods 10.244.0.0/16", "cni flannel",
		"static /24, gateway 10.31.100.1, dns 10.31.0.53", "leader election:  lease 137s, renew 107s, retry 26s", "probes:           timeout 60s, liveness failures kubeadm's, startup failures 90", "m1    control-plane  10.31.100.61   bootstraps", "w1    worker         10.31.100.101"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE") {
		t.Error("cluster show printed a key")
	}

	out, err = run(t, "cluster", "show", "--cluster", dir, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Name          string `json:"name"`
		ControlPlanes []struct{ Name, Address string }
		Workers       []struct{ Name, Address string }
		NodeNetwork   struct{ Interface string }
		NTPServers    []string `json:"ntpServers"`
	}
	if err := json.Unmarshal([]byte(out), &spec); err != nil {
		t.Fatalf("cluster show -o json: %v\n%s", err, out)
	}
	if spec.Name != "prod" || len(spec.ControlPlanes) != 3 || spec.Workers[0].Name != "w1" || spec.NodeNetwork.Interface != "ens192" || len(spec.NTPServers) != 2 {
		t.Errorf("cluster show -o json: %+v", spec)
	}

	// Worker metadata: valid, static, and without any key.
	out, err = run(t, "metadata", "--cluster", dir, "--node", "w1")
	if err != nil {
		t.Fatal(err)
	}
	w1, err := config.Parse([]byte(out))
	if err != nil {
		t.Fatalf("metadata w1 does not parse: %v", err)
	}
	if w1.Node.Role != config.RoleWorker || w1.Node.Network.Address != "10.31.100.101/24" || w1.Cluster.LoadBalancer.Interface != "ens192" ||
		strings.Contains(out, "RSA PRIVATE KEY") || w1.Cluster.Secrets.BootstrapToken != "" || w1.Cluster.Secrets.NodeCredential == nil {
		t.Errorf("metadata w1 (want a node credential, no CA key, no token):\n%s", out)
	}
	cert, err := credential.Check(w1.Cluster.Secrets.NodeCredential.Cert, w1.Cluster.Secrets.NodeCredential.Key, w1.Cluster.Secrets.KubernetesCA.Cert, "w1", time.Now())
	if err != nil || time.Until(cert.NotAfter) > 24*time.Hour || time.Until(cert.NotAfter) < 23*time.Hour {
		t.Errorf("metadata w1: credential %v, want one valid for 24h", err)
	}
	for _, bad := range []string{"0", "-1h"} {
		if _, err := run(t, "metadata", "--cluster", dir, "--node", "w1", "--credential-ttl", bad); err == nil || !strings.Contains(err.Error(), "--credential-ttl") {
			t.Errorf("metadata --credential-ttl %s: %v, want refused", bad, err)
		}
	}
	// --refresh keeps the document and replaces the credential.
	old := filepath.Join(t.TempDir(), "w1.yaml")
	w1.Node.Labels = map[string]string{"kiln.dev/pool": "batch"}
	oldDoc, _ := config.MarshalYAML(w1)
	if err := os.WriteFile(old, oldDoc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "metadata", "--cluster", dir, "--refresh", old, "--credential-ttl", "2h")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := config.Parse([]byte(out))
	if err != nil || fresh.Node.Labels["kiln.dev/pool"] != "batch" || fresh.Cluster.Secrets.NodeCredential.Cert == w1.Cluster.Secrets.NodeCredential.Cert {
		t.Errorf("metadata --refresh (%v):\n%s", err, out)
	}

	// Control-plane metadata in JSON carries the keys.
	out, err = run(t, "metadata", "--cluster", dir, "--node", "m2", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := config.Parse([]byte(out))
	if err != nil {
		t.Fatalf("metadata m2 -o json does not parse: %v", err)
	}
	if m2.Cluster.Secrets.EtcdCA == nil || !json.Valid([]byte(out)) {
		t.Errorf("metadata m2 -o json lacks the etcd CA")
	}

	// The guestinfo form decodes to the YAML document.
	yamlDoc, _ := run(t, "metadata", "--cluster", dir, "--node", "m1")
	for _, enc := range []string{"base64", "gzip+base64"} {
		out, err = run(t, "metadata", "--cluster", dir, "--node", "m1", "--encoding", enc)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(out, "\n") != 1 {
			t.Errorf("--encoding %s printed more than one line", enc)
		}
		back, err := config.Decode(strings.TrimSpace(out), config.Encoding(enc))
		if err != nil || string(back) != yamlDoc {
			t.Errorf("--encoding %s does not decode to the YAML document (%v)", enc, err)
		}
	}
}

func TestClusterAddNode(t *testing.T) {
	dir := newSeedCluster(t)
	out, err := run(t, "cluster", "add-node", "--cluster", dir, "--worker", "w2=10.31.100.102", "--worker", "w3=10.31.100.103", "--control-plane", "m4=10.31.100.64")
	if err != nil {
		t.Fatal(err)
	}
	if out != "cluster prod: control planes: 4, workers: 3\n" {
		t.Errorf("add-node printed %q", out)
	}
	out, _ = run(t, "cluster", "show", "--cluster", dir)
	if !strings.Contains(out, "w3    worker         10.31.100.103") || !strings.Contains(out, "m4    control-plane  10.31.100.64") {
		t.Errorf("show after add-node:\n%s", out)
	}
	if _, err := run(t, "metadata", "--cluster", dir, "--node", "w3"); err != nil {
		t.Errorf("metadata for the added node: %v", err)
	}
	spec, _ := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	_, err = run(t, "cluster", "add-node", "--cluster", dir, "--worker", "w2=10.31.100.110")
	wantErr(t, err, `--worker "w2=10.31.100.110": "w2" is already workers[1]`)
	if after, _ := os.ReadFile(filepath.Join(dir, "cluster.yaml")); !bytes.Equal(spec, after) {
		t.Error("a failed add-node changed cluster.yaml")
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if got := oneLine(err); got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if exitCode(err) != 2 {
		t.Errorf("exit code %d for %q, want 2 (usage)", exitCode(err), want)
	}
}

func TestClusterErrorsNameFlags(t *testing.T) {
	base := []string{"cluster", "new", "--name", "prod", "--kubernetes-version", "v1.34.2", "--vip", "10.31.100.100", "--control-plane", "m1=10.31.100.61"}
	out := filepath.Join(t.TempDir(), "x")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "new", "-o", out}, "--name is required"},
		{append(base[:6:6], "--control-plane", "m1=10.31.100.61", "-o", out), "--vip is required"},
		{append(base[:8:8], "-o", out), "--control-plane is required (NAME=IP, once per control plane, bootstrap node first)"},
		{append(base, "-o", out, "--worker", "w1"), `--worker "w1": want NAME=IP`},
		{append(base, "-o", out, "--worker", "w1=10.0.0.300"), `--worker "w1=10.0.0.300": "10.0.0.300" is not an IP address`},
		{append(base[:2:2], "--name", "prod", "--kubernetes-version", "1.34", "--vip", "10.31.100.100", "--control-plane", "m1=10.31.100.61", "-o", out), `--kubernetes-version: "1.34" is not a Kubernetes release (want vX.Y.Z, e.g. v1.34.2)`},
		{append(base, "-o", out, "--lb", "kube-vip", "--port", "8443"), `--port: 8443: kube-vip leads the VIP straight to kube-apiserver, so the port must be 6443`},
		{append(base, "-o", out, "--cni", "weave"), `--cni: "weave" is not a CNI kiln installs (want flannel, calico or none)`},
		{append(base, "-o", out, "--pod-subnet", "10.244.0.0/33"), `--pod-subnet: "10.244.0.0/33" is not a CIDR subnet (e.g. 10.244.0.0/16)`},
		{append(base, "-o", out, "--gateway", "10.31.100.1"), `--gateway: needs static addressing (a prefix length)`},
		{append(base, "-o", out, "--prefix", "24", "--gateway", "10.31.101.1"), `--gateway: 10.31.101.1 is outside m1's network 10.31.100.0/24`},
		{append(base, "-o", out, "--leader-election", "lease=60s,renew=60s,retry=2s"), `--leader-election lease: 1m0s must be longer than renewDeadline 1m0s`},
		{append(base, "-o", out, "--leader-election", "lease=137s,renew=107s,retry=x"), `--leader-election retry: "x" is not a positive duration (e.g. 137s)`},
		{append(base, "-o", out, "--leader-election", "lease=137s,renew=107s,wait=26s"), `--leader-election: "wait" is not lease, renew or retry`},
		{append(base, "-o", out, "--probes", "timeout=900s"), `--probes timeout: 900 is not between 1 and 600`},
		{append(base, "-o", out, "--probes", "timeout=1.5s"), `--probes timeout: "1.5s" is not a whole number of seconds (e.g. 60s)`},
		{append(base, "-o", out, "--probes", "liveness=0"), `--probes liveness: "0" is not a positive number of failed probes`},
		{append(base, "-o", out, "--probes", "readiness=3"), `--probes: "readiness" is not timeout, liveness or startup`},
		{append(base, "-o", out, "--lb-check", "interval=90s"), `--lb-check interval: 90 is not between 1 and 60`},
		{append(base, "-o", out, "--lb-check", "fall=x"), `--lb-check fall: "x" is not a positive number of checks`},
		{append(base, "-o", out, "--lb-check", "delay=1s"), `--lb-check: "delay" is not interval, timeout, fall or rise`},
		{append(base, "-o", out, "--lb", "kube-vip", "--lb-check", "fall=6"), `--lb-check: is used only with mode keepalived-haproxy`},
		{append(base, "-o", out, "--port", "x"), `invalid argument "x" for "--port" flag: strconv.ParseInt: parsing "x": invalid syntax`},
		{[]string{"cluster", "show"}, "--cluster is required"},
		{[]string{"cluster", "show", "--cluster", out, "-o", "xml"}, `--output "xml": want text or json`},
		{[]string{"metadata", "--cluster", out}, "give --node NAME, or --refresh FILE for a worker's document with an expired credential"},
		{[]string{"cluster", "add-node", "--cluster", out, "--worker", "w9=10.31.100.109", "--credential-ttl", "0s"}, "--credential-ttl 0s: want a positive duration, e.g. 24h"},
		{[]string{"metadata", "--cluster", out, "--node", "m1", "--encoding", "zip"}, `--encoding "zip": want base64 or gzip+base64`},
		{[]string{"cluster", "add-node", "--cluster", out}, "give at least one --worker or --control-plane NAME=IP"},
	} {
		_, err := run(t, c.args...)
		wantErr(t, err, c.want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a failed cluster new left a directory behind")
	}

	dir := newSeedCluster(t)
	_, err := run(t, "metadata", "--cluster", dir, "--node", "w9")
	wantErr(t, err, `--node "w9": no such node in cluster prod (see kiln cluster show)`)
	_, err = run(t, append(base, "-o", dir)...)
	wantErr(t, err, dir+" already holds a cluster bundle; use --force to replace it (its CAs will be lost)")
	if _, err := run(t, append(base, "-o", dir, "--force")...); err != nil {
		t.Errorf("--force: %v", err)
	}
	_, err = run(t, "cluster", "show", "--cluster", filepath.Join(t.TempDir(), "none"))
	if err == nil || !strings.Contains(err.Error(), "cluster.yaml: no such file or directory") {
		t.Errorf("show of a missing bundle: %v", err)
	}
}

// TestDocCommandMakesDocCluster runs the `kiln cluster new` command shown in
// docs/metadata.md and checks it writes the cluster.yaml shown there (the
// CA hash and bundle ID aside: they are new each time).
func TestDocCommandMakesDocCluster(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metadata.md")
	if err != nil {
		t.Fatal(err)
	}
	cmdRE := regexp.MustCompile("(?s)Made with:\n\n```sh\n(kiln cluster new .*?-o prod/)\n")
	m := cmdRE.FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/metadata.md has no `kiln cluster new` example")
	}
	dir := filepath.Join(t.TempDir(), "prod")
	args := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))[1:]
	args[len(args)-1] = dir
	if _, err := run(t, args...); err != nil {
		t.Fatalf("kiln %s: %v", strings.Join(args, " "), err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specRE := regexp.MustCompile("(?s)<!-- BEGIN GENERATED: cluster.yaml -->\n```yaml\n(.*?)```")
	want := specRE.FindSubmatch(doc)
	if want == nil {
		t.Fatal("docs/metadata.md has no cluster.yaml example")
	}
	hash := regexp.MustCompile(`(?m)^(caCertHash|id): .*$`)
	if g, w := hash.ReplaceAll(got, nil), hash.ReplaceAll(want[1], nil); !bytes.Equal(g, w) {
		t.Errorf("the documented command writes\n%s\nbut the documentation shows\n%s", got, want[1])
	}
}

func TestClusterKubeconfig(t *testing.T) {
	dir := newSeedCluster(t)
	out, err := run(t, "cluster", "kubeconfig", "--cluster", dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "admin.kubeconfig")
	line := regexp.MustCompile(`^wrote (.*): user kiln-admin, groups kubeadm:cluster-admins, server https://10\.31\.100\.100:8443, expires (\S+)\n$`).FindStringSubmatch(out)
	if line == nil || line[1] != path {
		t.Fatalf("cluster kubeconfig printed %q", out)
	}
	if exp, err := time.Parse(time.RFC3339, line[2]); err != nil || time.Until(exp) > time.Hour || time.Until(exp) < 59*time.Minute {
		t.Errorf("expires %s, want in an hour", line[2])
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", path, err, fi.Mode())
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "client-key-data: ") || !strings.Contains(string(data), "current-context: kiln-admin@prod\n") {
		t.Errorf("%s is not the admin kubeconfig:\n%s", path, data)
	}

	// Renewing replaces it; -o - prints the kubeconfig and nothing else.
	if _, err := run(t, "cluster", "kubeconfig", "--cluster", dir); err != nil {
		t.Errorf("renewing: %v", err)
	}
	out, err = run(t, "cluster", "kubeconfig", "--cluster", dir, "-o", "-", "--user", "alice", "--group", "devs", "--ttl", "24h")
	if err != nil || !strings.HasPrefix(out, "apiVersion: v1\nkind: Config\n") || !strings.Contains(out, "user: alice\n") {
		t.Errorf("-o -: %v\n%s", err, out)
	}

	// A file that is not this cluster's kubeconfig is kept unless --force.
	other := filepath.Join(t.TempDir(), "config")
	os.WriteFile(other, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: staging\n"), 0o600)
	_, err = run(t, "cluster", "kubeconfig", "--cluster", dir, "-o", other)
	wantErr(t, err, "-o "+other+": the file exists and is not a kubeconfig for cluster prod alone; use --force to replace it")
	if _, err := run(t, "cluster", "kubeconfig", "--cluster", dir, "-o", other, "--force"); err != nil {
		t.Errorf("--force: %v", err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--cluster is required"},
		{[]string{"--cluster", dir, "--ttl", "0"}, "--ttl 0s: want a positive duration, e.g. 1h (at most 24h)"},
		{[]string{"--cluster", dir, "--ttl", "-5m"}, "--ttl -5m0s: want a positive duration, e.g. 1h (at most 24h)"},
		{[]string{"--cluster", dir, "--ttl", "48h"}, "--ttl: 48h0m0s is longer than 24h: a client certificate cannot be revoked, so mint a new one when it expires"},
		{[]string{"--cluster", dir, "--group", "devs", "--group", " x"}, `--group " x": " x" has leading or trailing space`},
		{[]string{"--cluster", dir, "--server", "http://10.31.100.100:8443"}, `--server: "http://10.31.100.100:8443" is not an https:// URL`},
	} {
		_, err := run(t, append([]string{"cluster", "kubeconfig"}, c.args...)...)
		wantErr(t, err, c.want)
	}
}

// TestClusterKubeconfigExamples runs every `kiln cluster kubeconfig`
// command of its --help, README.md and docs/metadata.md, as written, in a
// directory holding prod/.
func TestClusterKubeconfigExamples(t *testing.T) {
	text := newClusterKubeconfigCommand().Example
	for _, doc := range []string{"../../README.md", "../../docs/metadata.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text += "\n" + strings.ReplaceAll(string(b), "--cluster DIR", "--cluster prod/") // README's placeholder
	}
	dir := newSeedCluster(t)
	t.Chdir(filepath.Dir(dir))
	examples := regexp.MustCompile("kiln (cluster kubeconfig --cluster [^)#`\n]*)").FindAllStringSubmatch(text, -1)
	if len(examples) < 5 {
		t.Fatalf("found %d examples", len(examples))
	}
	for _, ex := range examples {
		if _, err := run(t, strings.Fields(ex[1])...); err != nil {
			t.Errorf("kiln %s: %v", ex[1], err)
		}
	}
	for _, f := range []string{"prod/admin.kubeconfig", "alice.kubeconfig"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode() != 0o600 {
			t.Errorf("the examples did not write %s 0600 (%v)", f, err)
		}
	}
}
