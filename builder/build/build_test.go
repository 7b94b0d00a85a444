package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/kiln-build/kiln/builder/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/kiln-build/kiln/builder/containerimages"

	"github.com/kiln-build/kiln/builder/reftest"

	"github.com/kiln-build/kiln/builder/inspect"
	"github.com/kiln-build/kiln/builder/install"
	"github.com/kiln-build/kiln/builder/reposource"
	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/lock"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
	"github.com/kiln-build/kiln/builder/spec"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	reftest.Root(t)
	reftest.Tools(t, tools...)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type fixture struct {
	profile *spec.Profile
	lock    *lock.Lock
	repoDir string
	kinit   string
	fb      string
}

// newFixture signs the host distribution into a file:// repository and
// locks a profile that installs all of it.
func newFixture(t testing.TB, tamper rpmtest.Tamper, extra ...*rpmtest.Package) fixture {
	t.Helper()
	distro, err := rpmtest.HostDistro()
	if err != nil {
		t.Fatal(err)
	}
	distro = append(distro, extra...)
	key := rpmtest.TestKey(t, "kiln build test")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "RPM-GPG-KEY-test")
	if err := key.WritePublicKey(keyPath); err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repoDir, "Packages"), 0o755)
	var pkgs []*repo.Package
	var names []string
	for _, p := range distro {
		opts := rpmtest.Options{Key: key}
		if p.Name == "kiln-test-scripts" {
			opts.Tamper = tamper
		}
		data, err := p.Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repoDir, "Packages", p.FileName()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rp := p.RepoPackage(data)
		rp.Repo = "host"
		rp.Location = "Packages/" + p.FileName()
		if tamper != rpmtest.TamperNone && p.Name == "kiln-test-scripts" {
			// The lock has the digest of the package as published; the
			// tampered file must be caught by the signature check.
			good := p.MustBuild(rpmtest.Options{Key: key})
			rp = p.RepoPackage(good)
			rp.Repo, rp.Location = "host", "Packages/"+p.FileName()
			rp.Checksum = p.RepoPackage(data).Checksum
			rp.Size = int64(len(data))
		}
		pkgs = append(pkgs, rp)
		names = append(names, p.Name)
	}
	prof := &spec.Profile{
		APIVersion: spec.APIVersion, Kind: spec.Kind, Name: "testnode",
		Repos:         []spec.Repo{{Name: "host", BaseURL: spec.StringList{"file://" + repoDir}, GPGKey: spec.StringList{keyPath}}},
		Packages:      names,
		Files:         []spec.File{{Path: "/etc/motd", Content: "built by kiln\n"}},
		Sysctl:        map[string]string{"net.ipv4.ip_forward": "1"},
		Units:         spec.Units{Enable: []string{"kiln-test.service"}},
		Disk:          spec.Disk{Size: 1 << 30},
		Outputs:       []spec.Output{"gce", "ova", "raw", "qcow2", "vmdk"},
		KernelCmdline: []string{"console=ttyS0,115200n8"},
		Images:        []spec.Image{{Ref: "registry.k8s.io/pause:3.10.1", Archive: pauseArchive(t)}},
	}
	prof.ApplyDefaults()
	if err := prof.Validate(); err != nil {
		t.Fatal(err)
	}
	bins := t.TempDir()
	kinit, fb := filepath.Join(bins, "kiln-init"), filepath.Join(bins, "kiln-firstboot")
	os.WriteFile(kinit, []byte("placeholder kiln-init"), 0o755)
	os.WriteFile(fb, []byte("placeholder kiln-firstboot"), 0o755)
	l := lock.New(prof, pkgs)
	srcs, err := reposource.Load(context.Background(), prof, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Repos, err = reposource.Pin(srcs); err != nil {
		t.Fatal(err)
	}
	pins, err := containerimages.Pin(context.Background(), prof.Images, containerimages.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Images = []lock.Image{{Ref: prof.Images[0].Ref, Digest: pins[0]}}
	return fixture{profile: prof, lock: l, repoDir: repoDir, kinit: kinit, fb: fb}
}

// pauseArchive writes a small random image as a docker-save archive.
func pauseArchive(t testing.TB) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("registry.k8s.io/pause:3.10.1")
	p := filepath.Join(t.TempDir(), "pause.tar")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f fixture) build(t *testing.T, cache, out string) (*Manifest, error) {
	t.Helper()
	sde := time.Unix(1700000000, 0)
	return Build(context.Background(), Options{Profile: f.profile, Lock: f.lock, CacheDir: cache, OutDir: out,
		KilnInit: f.kinit, Firstboot: f.fb, SourceDateEpoch: &sde})
}

func TestBuildWritesEveryFormatCheckedByReferenceTools(t *testing.T) {
	need(t, "ldd", "busybox", "grub-mkimage", "mke2fs", "e2fsck", "debugfs", "sgdisk", "fsck.vfat", "qemu-img", "rpm", "tar")
	f := newFixture(t, rpmtest.TamperNone)
	cache, out := t.TempDir(), t.TempDir()
	m, err := f.build(t, cache, out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"testnode-gce.tar.gz", "testnode.build.log", "testnode.manifest.json", "testnode.ova", "testnode.qcow2", "testnode.raw", "testnode.spdx.json", "testnode.vmdk"}
	ents, _ := os.ReadDir(out)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("output dir holds %v, want %v", got, want)
	}
	raw := filepath.Join(out, "testnode.raw")
	if o := run(t, "sgdisk", "-v", raw); !strings.Contains(o, "No problems found") {
		t.Errorf("sgdisk -v: %s", o)
	}
	if m.Log != "testnode.build.log" {
		t.Errorf("manifest names the log %q", m.Log)
	}
	if log, err := os.ReadFile(filepath.Join(out, "testnode.build.log")); err != nil || !strings.Contains(string(log), "kiln-test-scripts-2:1.0-3.noarch") {
		t.Errorf("the build log lacks rpm's output: %v\n%s", err, log)
	}
	rootOff := partitionOffset(t, raw, 3)
	rootDev := raw + "?offset=" + strconv.FormatInt(rootOff, 10)
	run(t, "e2fsck", "-fn", rootDev)
	esp := filepath.Join(t.TempDir(), "esp.img")
	run(t, "dd", "if="+raw, "of="+esp, "bs=1M", "skip="+strconv.FormatInt(partitionOffset(t, raw, 2)>>20, 10), "count=200", "status=none")
	run(t, "fsck.vfat", "-n", esp)
	for _, img := range []string{"testnode.qcow2", "testnode.vmdk"} {
		run(t, "qemu-img", "check", filepath.Join(out, img))
		run(t, "qemu-img", "compare", "-f", "raw", raw, filepath.Join(out, img))
	}
	// The GCE archive, made from the VMDK's grains, holds the raw disk
	// (already a whole GiB): GNU tar and gzip extract it, checking the CRC.
	gceTar := filepath.Join(out, "testnode-gce.tar.gz")
	if o := run(t, "tar", "-tvzf", gceTar); !strings.Contains(o, "disk.raw") {
		t.Errorf("gce tar: %s", o)
	}
	if got, want := sha256Of(t, exec.Command("tar", "-xzOf", gceTar, "disk.raw")), sha256Of(t, exec.Command("cat", raw)); got != want {
		t.Errorf("disk.raw in the gce tar has sha256 %s, the raw disk %s", got, want)
	}
	if o := run(t, "tar", "-tf", filepath.Join(out, "testnode.ova")); strings.Fields(o)[0] != "testnode.ovf" {
		t.Errorf("ova does not start with the .ovf: %s", o)
	}

	cat := func(p string) string { return run(t, "debugfs", "-R", "cat "+p, rootDev) }
	for p, want := range map[string]string{
		"/var/lib/kiln-test/post":    "shell post ran with 1",
		"/var/lib/kiln-test/lua":     "lua posttrans ran",
		"/etc/motd":                  "built by kiln",
		"/etc/sysctl.d/90-kiln.conf": "net.ipv4.ip_forward = 1",
		"/etc/fstab":                 "UUID=" + m.RootUUID + " / ext4",
		"/boot/grub2/grub.cfg":       "root=UUID=" + m.RootUUID + " ro console=ttyS0,115200n8",
		"/usr/lib/kiln/build.json":   `"lockDigest": "` + m.LockDigest,
		"/var/log/systemctl.calls":   "enable kiln-firstboot.service kiln-test.service",
	} {
		if got := cat(p); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want it to contain %q", p, got, want)
		}
	}
	if mid := cat("/etc/machine-id"); strings.TrimSpace(mid) != "" && !strings.Contains(mid, "debugfs") {
		t.Errorf("/etc/machine-id = %q, want empty", mid)
	}
	if ea := run(t, "debugfs", "-R", "ea_list /usr/bin/pinger", rootDev); !strings.Contains(ea, "security.capability") {
		t.Errorf("pinger has no file capability: %s", ea)
	}
	if st := run(t, "debugfs", "-R", "stat /usr/bin/gunzip", rootDev); !strings.Contains(st, "Links: 2") {
		t.Errorf("gunzip is not a hard link: %s", st)
	}
	if st := run(t, "debugfs", "-R", "stat /var/lib/kiln/images/registry.k8s.io_pause_3.10.1.tar", rootDev); !strings.Contains(st, "Type: regular") {
		t.Errorf("preloaded image missing: %s", st)
	}
	if st := run(t, "debugfs", "-R", "stat /boot/initramfs-6.1.0-kiln.test.x86_64.img", rootDev); !strings.Contains(st, "Type: regular") {
		t.Errorf("no initramfs: %s", st)
	}

	// The image's rpmdb, read by rpm itself, lists exactly the lock.
	dbRoot := t.TempDir()
	os.MkdirAll(filepath.Join(dbRoot, "var/lib"), 0o755)
	run(t, "debugfs", "-R", "rdump /var/lib/rpm "+filepath.Join(dbRoot, "var/lib"), rootDev)
	qa := strings.Fields(run(t, "rpm", "--root", dbRoot, "--dbpath", "/var/lib/rpm", "-qa", "--qf", `%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n`))
	sort.Strings(qa)
	var locked []string
	for _, p := range f.lock.Packages {
		locked = append(locked, p.NEVRA())
	}
	if strings.Join(qa, " ") != strings.Join(locked, " ") {
		t.Errorf("rpm -qa in the image = %v, lock = %v", qa, locked)
	}

	// The manifest and SBOM describe what was written.
	var mf Manifest
	data, _ := os.ReadFile(filepath.Join(out, "testnode.manifest.json"))
	if err := json.Unmarshal(data, &mf); err != nil {
		t.Fatal(err)
	}
	if len(mf.Outputs) != 5 || len(mf.Stages) < 6 || mf.Kernel != "6.1.0-kiln.test.x86_64" || mf.Lock == nil {
		t.Errorf("manifest: %d outputs, %d stages, kernel %q", len(mf.Outputs), len(mf.Stages), mf.Kernel)
	}
	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	data, _ = os.ReadFile(filepath.Join(out, "testnode.spdx.json"))
	if err := json.Unmarshal(data, &sbom); err != nil || sbom.SPDXVersion != "SPDX-2.3" || len(sbom.Packages) != len(f.lock.Packages)+1 {
		t.Errorf("SBOM: %v, %s, %d packages", err, sbom.SPDXVersion, len(sbom.Packages))
	}

	// The manifest's digests are those of the files (sha256sum as oracle).
	for _, o := range m.Outputs {
		if sum := strings.Fields(run(t, "sha256sum", filepath.Join(out, o.File)))[0]; sum != o.SHA256 {
			t.Errorf("manifest says %s has sha256 %s; sha256sum says %s", o.File, o.SHA256, sum)
		}
	}

	// kiln inspect reads every format back to the same facts.
	for _, img := range []string{"testnode.raw", "testnode.qcow2", "testnode.vmdk", "testnode.ova"} {
		r, err := inspect.Image(context.Background(), filepath.Join(out, img))
		if err != nil {
			t.Fatalf("inspect %s: %v", img, err)
		}
		if r.Root == nil || r.Root.UUID != m.RootUUID || r.ESP == nil || r.ESP.VolumeID != m.ESPUUID || !strings.EqualFold(r.DiskGUID, m.DiskGUID) || len(r.Partitions) != 3 {
			t.Errorf("inspect %s: root %+v esp %+v guid %s partitions %d; manifest root %s esp %s guid %s", img, r.Root, r.ESP, r.DiskGUID, len(r.Partitions), m.RootUUID, m.ESPUUID, m.DiskGUID)
		}
		if strings.Join(r.Packages, " ") != strings.Join(locked, " ") || strings.Join(r.Kernels, " ") != "6.1.0-kiln.test.x86_64" {
			t.Errorf("inspect %s: packages %v kernels %v", img, r.Packages, r.Kernels)
		}
		var rec buildinfo.Record
		if err := json.Unmarshal(r.Record, &rec); err != nil || rec != m.Record {
			t.Errorf("inspect %s: record %+v (%v), want %+v", img, rec, err, m.Record)
		}
	}

	// Same profile, lock and SOURCE_DATE_EPOCH: the same bytes, warm cache.
	m2, err := f.build(t, cache, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range m.Outputs {
		if o.SHA256 != m2.Outputs[i].SHA256 {
			t.Errorf("%s differs between two builds: %s vs %s", o.File, o.SHA256, m2.Outputs[i].SHA256)
		}
	}
}

// brokenPost is a package whose %post fails after saying so.
var brokenPost = &rpmtest.Package{Name: "kiln-test-broken", Version: "1.0", Release: "1", Arch: "noarch",
	Summary:  "kiln test package whose %post fails",
	Requires: rpmtest.Deps("bash"),
	Files:    []rpmtest.File{{Path: "/usr/share/kiln-test-broken", Content: "x\n"}},
	Post:     rpmtest.Script{Body: "echo 'broken post says why' >&2\nexit 3\n"},
}

func TestBuildWithStrictScriptletsFailsOnAFailedPost(t *testing.T) {
	need(t, "ldd", "busybox", "grub-mkimage")
	f := newFixture(t, rpmtest.TamperNone, brokenPost)
	out := t.TempDir()
	sde := time.Unix(1700000000, 0)
	_, err := Build(context.Background(), Options{Profile: f.profile, Lock: f.lock, CacheDir: t.TempDir(), OutDir: out,
		KilnInit: f.kinit, Firstboot: f.fb, SourceDateEpoch: &sde, StrictScriptlets: true})
	var se *install.ScriptletError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "install: failed scriptlets (strict): %post scriptlet of kiln-test-broken-1.0-1.noarch failed: exit status 3") {
		t.Fatalf("Build(StrictScriptlets) = %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("output dir after a failed build holds %d entries", len(ents))
	}
}

func TestBuildFailureLeavesNothingAndNamesTheStage(t *testing.T) {
	need(t, "ldd", "busybox", "grub-mkimage")
	f := newFixture(t, rpmtest.TamperSignature)
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "keep.txt"), []byte("mine"), 0o644)
	_, err := f.build(t, t.TempDir(), out)
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "fetch" || !errors.Is(err, fetch.ErrBadSignature) || !strings.Contains(err.Error(), "kiln-test-scripts") {
		t.Fatalf("Build() = %v, want a fetch-stage bad signature error naming the package", err)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 1 || ents[0].Name() != "keep.txt" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("output dir after a failed build: %v", names)
	}
}

// sha256Of runs cmd and returns the sha256 of its output.
func sha256Of(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	h := sha256.New()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = h, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// partitionOffset reads a partition's byte offset with sgdisk.
func partitionOffset(t *testing.T, disk string, n int) int64 {
	t.Helper()
	out := run(t, "sgdisk", "-i", strconv.Itoa(n), disk)
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "First sector: "); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v * 512
		}
	}
	t.Fatalf("no first sector for partition %d:\n%s", n, out)
	return 0
}
