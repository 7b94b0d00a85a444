package initrd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/builder/reftest"
)

// fakeKernel lays out lib/modules/KVER with a small modules.dep that has
// the shapes real kernels use: chains, shared deps, a built-in, a soft dep.
func fakeKernel(t *testing.T) (root, kver string) {
	t.Helper()
	root, kver = t.TempDir(), "5.14.0-503.el9.x86_64"
	md := filepath.Join(root, "lib/modules", kver)
	files := map[string]string{
		"modules.dep": `kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/fs/jbd2/jbd2.ko.xz:
kernel/fs/mbcache.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:
kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio.ko.xz:
kernel/drivers/scsi/vmw_pvscsi.ko.xz:
kernel/drivers/net/dummy.ko.xz:
`,
		"modules.builtin": "kernel/drivers/scsi/sd_mod.ko\n",
		"modules.softdep": "# soft dependencies\nsoftdep ext4 pre: crc32c-generic\n",
	}
	for name, body := range files {
		writeFile(t, filepath.Join(md, name), body)
	}
	deps := files["modules.dep"]
	for _, l := range strings.Split(deps, "\n") {
		if m, _, ok := strings.Cut(l, ":"); ok {
			writeFile(t, filepath.Join(md, m), "\x7fELF fake module "+m)
		}
	}
	return root, kver
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResolveModulesOrdersDependenciesFirst(t *testing.T) {
	root, kver := fakeKernel(t)
	order, missing, err := ResolveModules(filepath.Join(root, "lib/modules", kver), []string{"virtio_pci", "virtio-blk", "sd_mod", "ext4", "nvme"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range order {
		pos[moduleName(m)] = i
	}
	for _, before := range [][2]string{{"virtio", "virtio_ring"}, {"virtio_ring", "virtio_pci"}, {"virtio_pci_modern_dev", "virtio_pci"}, {"virtio_ring", "virtio_blk"}, {"jbd2", "ext4"}, {"mbcache", "ext4"}, {"crc16", "ext4"}, {"crc32c_generic", "ext4"}} {
		a, aok := pos[before[0]]
		b, bok := pos[before[1]]
		if !aok || !bok || a > b {
			t.Errorf("%s must load before %s: order %v", before[0], before[1], order)
		}
	}
	if len(order) != 10 {
		t.Errorf("got %d modules, want 10 (no duplicates, nothing unrequested): %v", len(order), order)
	}
	if strings.Join(missing, ",") != "nvme" {
		t.Errorf("missing = %v, want [nvme] (sd_mod is built in)", missing)
	}
}

func TestBuildIsAKernelReadableReproducibleArchive(t *testing.T) {
	reftest.Tool(t, "cpio")
	root, kver := fakeKernel(t)
	initBin := filepath.Join(t.TempDir(), "kiln-init")
	writeFile(t, initBin, "#!fake init binary\n")
	opts := Options{Root: root, KernelVersion: kver, Init: initBin, Modules: []string{"virtio_blk", "ext4"}, ModTime: time.Unix(1700000000, 0)}
	var a, b bytes.Buffer
	rep, err := Build(context.Background(), &a, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), &b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two builds differ")
	}
	if len(rep.Modules) != 8 {
		t.Errorf("report lists %d modules: %v", len(rep.Modules), rep.Modules)
	}

	// cpio -t reads the archive the way the kernel's unpacker does.
	cmd := exec.Command("sh", "-c", "gzip -dc | cpio -itv --quiet")
	cmd.Stdin = bytes.NewReader(a.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{
		"crw-------", "dev/console", "-rwxr-xr-x", " init\n", "etc/kiln-init/modules",
		"lib/modules/" + kver + "/kernel/fs/ext4/ext4.ko.xz", "drwxr-xr-x", "sysroot",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("archive listing lacks %q:\n%s", want, listing)
		}
	}
	if strings.Contains(listing, "dummy.ko") || strings.Contains(listing, "vmw_pvscsi") {
		t.Errorf("archive has modules nobody asked for:\n%s", listing)
	}

	dir := t.TempDir()
	cmd = exec.Command("sh", "-c", "gzip -dc | cpio -idm --quiet --no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(a.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "dev/console") {
		t.Fatalf("cpio extract: %v\n%s", err, out)
	}
	list, err := os.ReadFile(filepath.Join(dir, "etc/kiln-init/modules"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(list))
	if len(lines) != 8 || !strings.HasSuffix(lines[len(lines)-1], "ext4.ko.xz") {
		t.Errorf("module list: %v", lines)
	}
	for _, l := range lines {
		if _, err := os.Stat(filepath.Join(dir, l)); err != nil {
			t.Errorf("listed module %s not in the archive: %v", l, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "init")); err != nil || st.ModTime().Unix() != 1700000000 {
		t.Errorf("init: %v, mtime %v", err, st)
	}
}
