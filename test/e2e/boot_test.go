//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/qemu"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/test/e2e/fixture"
)

// The node network is QEMU's user network: 10.0.2.0/24, gateway .2, DNS .3.
const (
	vip        = "10.0.2.100"
	m1Address  = "10.0.2.61"
	w1Address  = "10.0.2.101"
	multiUser  = `Reached target.*(multi-user\.target|Multi-User System)`
	bootBudget = 12 * time.Minute
)

type binaries struct{ Kiln, Init, Firstboot string }

// assembled is the image kiln build made.
type assembled struct {
	Raw, QCOW2 string // QCOW2 is "" when only raw was made
	RootUUID   string
	Kernel     string
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the boot test needs root (debootstrap, chroot, mounts)")
		}
		t.Skip("needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// logWriter sends progress lines to t.Log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func buildBinaries(t *testing.T, root, dir string) binaries {
	t.Helper()
	b := binaries{Kiln: filepath.Join(dir, "kiln"), Init: filepath.Join(dir, "kiln-init"), Firstboot: filepath.Join(dir, "kiln-firstboot")}
	for bin, pkg := range map[string]string{b.Kiln: "./cmd/kiln", b.Init: "./cmd/kiln-init", b.Firstboot: "./cmd/kiln-firstboot"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return b
}

// kiln runs the kiln CLI as a user would.
func kiln(t *testing.T, ctx context.Context, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kiln %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestBoot(t *testing.T) {
	need(t, "debootstrap", "createrepo_c", "qemu-system-x86_64", "qemu-img", "mke2fs")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	root := repoRoot(t)

	start := time.Now()
	fix, err := fixture.Build(ctx, fixture.Options{Dir: filepath.Join(root, "build/e2e-fixture"), Log: logWriter{t}})
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	t.Logf("fixture repository: %d packages (cached: %v) in %s", len(fix.Packages), fix.Cached, time.Since(start).Round(time.Second))

	work := filepath.Join(root, "build/e2e")
	bins := buildBinaries(t, root, filepath.Join(work, "bin"))
	out := filepath.Join(work, "out")
	os.RemoveAll(out)
	os.MkdirAll(out, 0o755)

	start = time.Now()
	img := buildWithCLI(t, ctx, bins, filepath.Join(root, "test/e2e/fixture.yaml"), out)
	t.Logf("image built in %s: %s (root UUID %s)", time.Since(start).Round(time.Second), img.Raw, img.RootUUID)

	cluster := filepath.Join(out, "cluster")
	kiln(t, ctx, bins.Kiln, "cluster", "new", "--name", "e2e", "--kubernetes-version", fixture.KubernetesVersion, "--vip", vip,
		"--control-plane", "m1="+m1Address, "--worker", "w1="+w1Address, "--prefix", "24", "--gateway", "10.0.2.2", "--cni", "none",
		"--dns", "10.0.2.3", "-o", cluster)
	meta := map[string]string{}
	for _, n := range []string{"m1", "w1"} {
		meta[n] = filepath.Join(out, n+".yaml")
		if err := os.WriteFile(meta[n], []byte(kiln(t, ctx, bins.Kiln, "metadata", "--cluster", cluster, "--node", n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rawSize := fileSize(t, img.Raw)

	t.Run("uefi-control-plane-grown-disk", func(t *testing.T) {
		grow := int64(2 << 30)
		log := bootImage(t, ctx, qemu.Options{Image: img.Raw, Firmware: qemu.UEFI, Metadata: meta["m1"], DiskSize: rawSize + grow}, filepath.Join(out, "uefi-m1.log"))
		checkBase(t, log, img)
		checkGrown(t, log, grow)
		checkFirstboot(t, log, "m1", m1Address, "init")
		if got, _ := fixtureValue(log, "cmdline"); !slices.Contains(strings.Fields(got), "console=ttyS0,115200n8") {
			t.Errorf("kernel command line %q lacks the profile's console=ttyS0,115200n8", got)
		}
	})
	t.Run("bios-worker-nocloud", func(t *testing.T) {
		image := img.Raw
		if img.QCOW2 != "" {
			image = img.QCOW2
		}
		// The worker boots alone: a stand-in API server behind the VIP
		// answers the agent's health check, as the control plane would.
		api, hits := fakeAPIServer(t, cluster, vip)
		log := bootImage(t, ctx, qemu.Options{Image: image, Firmware: qemu.BIOS, Metadata: meta["w1"], NoCloud: true,
			Forwards: []qemu.Forward{{Guest: vip + ":8443", Host: api}}}, filepath.Join(out, "bios-w1.log"))
		checkBase(t, log, img)
		checkFirstboot(t, log, "w1", w1Address, "join")
		if hits.Load() == 0 {
			t.Error("kiln-firstboot did not check the control plane's /healthz before joining")
		}
	})
}

// bootImage runs the image until systemd reaches multi-user.target and
// returns the console, cleaned, one line each.
func bootImage(t *testing.T, ctx context.Context, o qemu.Options, logPath string) []string {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.Serial = f
	o.MemoryMiB, o.CPUs = 1024, 2
	o.Until = regexp.MustCompile(multiUser)
	// Software emulation unless asked: it behaves the same on every host,
	// while nested KVM (CI runs in virtual machines) can stall GRUB or
	// OVMF. KILN_E2E_ACCEL=kvm (or auto) speeds a local run up.
	o.Accel = qemu.AccelTCG
	if a := os.Getenv("KILN_E2E_ACCEL"); a != "" {
		o.Accel = qemu.Accel(a)
		if a == "auto" {
			o.Accel = qemu.AccelAuto
		}
	}
	bctx, cancel := context.WithTimeout(ctx, bootBudget)
	defer cancel()
	res, err := qemu.Run(bctx, o)
	t.Logf("%s boot with %s took %s; console in %s", o.Firmware, res.Accel, res.Duration.Round(time.Second), logPath)
	if err != nil {
		t.Fatalf("boot: %v\nlast console lines:\n%s", err, tail(string(res.Log), 40))
	}
	return res.Lines()
}

// find returns the first console line matching re, and its submatches.
func find(lines []string, re string) []string {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if m := r.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	return nil
}

// fixtureValue finds what the fixture's report, or one of its stand-ins
// (which say so on each line), wrote for key.
func fixtureValue(lines []string, key string) (string, bool) {
	m := find(lines, regexp.QuoteMeta(fixture.Marker)+`(?: stand-in)? `+regexp.QuoteMeta(key)+` (.*)$`)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// checkBase: kernel and initramfs came from kiln's disk, root was mounted
// by UUID, systemd reached multi-user.target, the packages' scriptlets
// ran, kiln's customization is in place.
func checkBase(t *testing.T, lines []string, img assembled) {
	t.Helper()
	if find(lines, `kiln-init: root=UUID=`+regexp.QuoteMeta(img.RootUUID)) == nil {
		t.Errorf("kiln-init did not start with root=UUID=%s from grub.cfg", img.RootUUID)
	}
	if find(lines, `kiln-init: loaded \d+ of \d+ modules`) == nil {
		t.Error("kiln-init loaded no modules")
	}
	if find(lines, `kiln-init: mounted root UUID=`+regexp.QuoteMeta(img.RootUUID)+` at /sysroot`) == nil {
		t.Errorf("no 'kiln-init: mounted root UUID=%s' line", img.RootUUID)
	}
	if find(lines, `Linux version `+regexp.QuoteMeta(img.Kernel)) == nil {
		t.Errorf("the kernel that booted is not %s", img.Kernel)
	}
	if find(lines, multiUser) == nil {
		t.Error("systemd did not reach multi-user.target")
	}
	if find(lines, fixture.Marker+` report end`) == nil {
		t.Fatal("the fixture's report unit did not finish")
	}
	for key, want := range map[string]string{
		"scriptlet post-shell:":    "shell post ran with arg 1",
		"scriptlet posttrans-lua:": "lua posttrans ran in rpm /var/lib/rpm",
		"containerd-config":        "SystemdCgroup = true",
		"root-source":              "/dev/vda3",
	} {
		if got, ok := fixtureValue(lines, key); !ok || got != want {
			t.Errorf("console %q = %q, want %q", key, got, want)
		}
	}
	if id, _ := fixtureValue(lines, "machine-id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("machine-id %q: systemd did not make one on first boot", id)
	}
	if got, _ := fixtureValue(lines, "unit containerd.service"); got != "active" {
		t.Errorf("containerd.service is %q", got)
	}
}

func checkGrown(t *testing.T, lines []string, grow int64) {
	t.Helper()
	m := find(lines, `kiln-init: grew root partition 3 of /dev/vda from (\d+) to (\d+) bytes`)
	if m == nil {
		t.Fatal("kiln-init did not grow the root partition")
	}
	from, _ := strconv.ParseInt(m[1], 10, 64)
	to, _ := strconv.ParseInt(m[2], 10, 64)
	if to-from < grow-(2<<20) {
		t.Errorf("root partition grew by %d bytes, want about %d", to-from, grow)
	}
	if find(lines, `kiln-init: root filesystem resized to \d+ blocks`) == nil {
		t.Error("kiln-init did not resize the root filesystem")
	}
	// df counts the filesystem's blocks less its metadata: within a few
	// percent of the partition.
	kib, _ := fixtureValue(lines, "root-size-kib")
	n, _ := strconv.ParseInt(kib, 10, 64)
	if n*1024 < to*94/100 || n*1024 <= from {
		t.Errorf("df says / is %d KiB; the root partition grew from %d to %d bytes", n, from, to)
	}
}

// checkFirstboot: kiln-firstboot found the metadata, set the hostname and
// the static address, wrote the kubeadm config (and, on control planes,
// the static pods), ran kubeadm init or join with it, and ended well.
func checkFirstboot(t *testing.T, lines []string, node, address, verb string) {
	t.Helper()
	if find(lines, `kiln-firstboot: not built yet`) != nil {
		t.Skip("kiln-firstboot is still the placeholder on this branch; its checks wait for the agent")
	}
	var statuses []config.Status
	for _, l := range lines {
		if s, ok, err := config.ParseStatusLine(l); ok {
			if err != nil {
				t.Errorf("bad status line %q: %v", l, err)
				continue
			}
			statuses = append(statuses, s)
		}
	}
	if len(statuses) == 0 {
		t.Fatal("kiln-firstboot printed no KILN-STATUS line")
	}
	phases := map[string]bool{}
	var trail []string
	for _, s := range statuses {
		phases[string(s.Phase)] = true
		trail = append(trail, string(s.Phase))
	}
	last := statuses[len(statuses)-1]
	if last.Phase != "done" {
		t.Errorf("kiln-firstboot ended in phase %q (%s %s); phases %v", last.Phase, last.Message, last.Error, trail)
	}
	if !phases["metadata"] {
		t.Errorf("no metadata phase; phases %v", trail)
	}
	if got, _ := fixtureValue(lines, "hostname"); got != node {
		t.Errorf("hostname %q, want %q", got, node)
	}
	if find(lines, regexp.QuoteMeta(fixture.Marker+" addr ")+`.*inet `+regexp.QuoteMeta(address)+`/24`) == nil {
		t.Errorf("no interface has %s/24", address)
	}
	if _, ok := fixtureValue(lines, "kubeadm-config"); !ok {
		t.Error("/etc/kubernetes/kubeadm-config.yaml was not written")
	}
	call := find(lines, regexp.QuoteMeta(fixture.StandinMarker+" kubeadm "+verb)+`(.*)$`)
	if call == nil {
		t.Fatalf("kubeadm %s was not called", verb)
	}
	if !strings.Contains(call[1], "--config /etc/kubernetes/kubeadm-config.yaml") && !strings.Contains(call[1], "--config=/etc/kubernetes/kubeadm-config.yaml") {
		t.Errorf("kubeadm %s called with %q, want --config /etc/kubernetes/kubeadm-config.yaml", verb, call[1])
	}
	var cfg []string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, fixture.StandinMarker+" kubeadm-config| "); ok {
			cfg = append(cfg, rest)
		}
	}
	doc := strings.Join(cfg, "\n")
	kind := map[string]string{"init": "InitConfiguration", "join": "JoinConfiguration"}[verb]
	if !strings.Contains(doc, "kind: "+kind) {
		t.Errorf("the config kubeadm %s got has no %s:\n%s", verb, kind, doc)
	}
	if verb == "init" {
		for _, want := range []string{"controlPlaneEndpoint: " + vip + ":8443", "kubernetesVersion: " + fixture.KubernetesVersion} {
			if !strings.Contains(doc, want) {
				t.Errorf("the kubeadm config lacks %q:\n%s", want, doc)
			}
		}
		if find(lines, regexp.QuoteMeta(fixture.Marker+" manifest /etc/kubernetes/manifests/")) == nil {
			t.Error("no static pod manifest on the control plane")
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// buildWithCLI runs `kiln lock` and `kiln build` on the profile, as a user
// would, and finds the raw and qcow2 images and the root UUID in the
// output directory.
func buildWithCLI(t *testing.T, ctx context.Context, bins binaries, profile, out string) assembled {
	t.Helper()
	env := []string{"KILN_CACHE_DIR=" + filepath.Join(out, "cache")}
	run := func(args ...string) {
		cmd := exec.CommandContext(ctx, bins.Kiln, args...)
		cmd.Env = append(os.Environ(), env...)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kiln %s: %v\n%s", strings.Join(args, " "), err, tail(string(o), 40))
		}
	}
	lock := filepath.Join(out, "fixture.lock")
	run("lock", profile, "--lock", lock)
	run("build", profile, "--lock", lock, "-o", out)
	raws, _ := filepath.Glob(filepath.Join(out, "*.raw"))
	if len(raws) != 1 {
		t.Fatalf("kiln build wrote %v raw images to %s", raws, out)
	}
	a := assembled{Raw: raws[0]}
	if q, _ := filepath.Glob(filepath.Join(out, "*.qcow2")); len(q) == 1 {
		a.QCOW2 = q[0]
	}
	// The root UUID and kernel come from the image itself (kiln inspect)
	// and must agree with the build manifest.
	var info struct {
		Root struct {
			UUID string `json:"uuid"`
		} `json:"root"`
		Kernels []string `json:"kernels"`
	}
	raw := kiln(t, ctx, bins.Kiln, "inspect", a.Raw, "-o", "json")
	if err := json.Unmarshal([]byte(raw), &info); err != nil || len(info.Kernels) != 1 {
		t.Fatalf("kiln inspect -o json: %v\n%s", err, raw)
	}
	a.RootUUID, a.Kernel = info.Root.UUID, info.Kernels[0]
	manifests, _ := filepath.Glob(filepath.Join(out, "*.manifest.json"))
	if len(manifests) != 1 {
		t.Fatalf("kiln build wrote manifests %v", manifests)
	}
	var manifest struct {
		RootUUID string `json:"rootUUID"`
		Kernel   string `json:"kernel"`
	}
	if b, err := os.ReadFile(manifests[0]); err != nil || json.Unmarshal(b, &manifest) != nil {
		t.Fatalf("reading %s: %v", manifests[0], err)
	}
	if manifest.RootUUID != a.RootUUID || manifest.Kernel != a.Kernel {
		t.Errorf("manifest says root %s kernel %s; kiln inspect says %s, %s", manifest.RootUUID, manifest.Kernel, a.RootUUID, a.Kernel)
	}
	if a.RootUUID == "" {
		t.Fatalf("kiln inspect shows no root UUID:\n%s", info)
	}
	return a
}
