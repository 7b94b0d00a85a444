package clusterimages

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/test/clusterimages/debiantest"
)

// standInInputs are small stand-in binaries and the stand-in Debian tree.
func standInInputs(t *testing.T) Inputs {
	t.Helper()
	dir := t.TempDir()
	kube := filepath.Join(dir, "kube")
	if err := os.WriteFile(kube, []byte("stand-in multi-call kube binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	addons := filepath.Join(dir, "addons")
	if err := os.Mkdir(addons, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range Addons {
		if err := os.WriteFile(filepath.Join(addons, b), []byte("stand-in "+b+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := KnownKubeadmImages("v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	return Inputs{
		Kube: kube, Addons: addons, DebianRoot: debiantest.Cluster(t), KubeadmImages: refs,
		Created: time.Unix(1700000000, 0),
	}
}

type tarEntry struct {
	typ  byte
	link string
	mode int64
	body string
}

func layerEntries(t *testing.T, l v1.Layer) map[string]tarEntry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]tarEntry{}
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		out[strings.TrimSuffix(h.Name, "/")] = tarEntry{typ: h.Typeflag, link: h.Linkname, mode: h.Mode, body: string(b)}
		if !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("tar entries not in lexical order: %q", names)
	}
	return out
}

// loadAll reads back every archive Build wrote, by the reference it holds.
func loadAll(t *testing.T, out string, results []Result) map[string]v1.Image {
	t.Helper()
	imgs := map[string]v1.Image{}
	for _, r := range results {
		tag, err := name.NewTag(r.Ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(filepath.Join(out, r.File), &tag)
		if err != nil {
			t.Fatalf("%s: %v", r.File, err)
		}
		if d, _ := img.Digest(); d != r.Digest {
			t.Errorf("%s holds %s, Build reported %s", r.File, d, r.Digest)
		}
		imgs[r.Ref] = img
	}
	return imgs
}

func TestBuildWritesEveryImageTheClusterRuns(t *testing.T) {
	in := standInInputs(t)
	out := t.TempDir()
	results, err := Build(context.Background(), in, out)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	var index strings.Builder
	for _, r := range results {
		refs = append(refs, r.Ref)
		index.WriteString(r.Ref + " " + r.File + " " + r.Digest.String() + "\n")
	}
	wantRefs := append(slices.Clone(in.KubeadmImages),
		"ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3", "ghcr.io/flannel-io/flannel:v0.28.9",
		"kiln.test/haproxy:2.6.12-1_deb12u3", "kiln.test/keepalived:1_2.2.7-1_b2", "kiln.test/toolbox:curl-7.88.1-10_deb12u15")
	if !slices.Equal(refs, wantRefs) {
		t.Errorf("built %q, want %q", refs, wantRefs)
	}
	if b, err := os.ReadFile(filepath.Join(out, IndexFile)); err != nil || string(b) != index.String() {
		t.Errorf("index.txt = %q, %v; want %q", b, err, index.String())
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
	imgs := loadAll(t, out, results)

	type want struct {
		entrypoint, cmd []string
		user            string
		has             map[string]string // path -> "file", "dir" or "-> TARGET"
		hasNot          []string
	}
	kubeLinks := func(bin string) map[string]string {
		return map[string]string{"usr/local/bin/kube": "file", "usr/local/bin/" + bin: "-> kube"}
	}
	iptables := map[string]string{
		"usr/sbin/iptables":                                   "-> /etc/alternatives/iptables",
		"etc/alternatives/iptables":                           "-> /usr/sbin/iptables-nft",
		"usr/sbin/iptables-restore":                           "-> /etc/alternatives/iptables-restore",
		"etc/alternatives/iptables-restore":                   "-> /usr/sbin/iptables-nft-restore",
		"usr/sbin/iptables-nft":                               "-> xtables-nft-multi",
		"usr/sbin/xtables-nft-multi":                          "file",
		"usr/sbin/iptables-legacy":                            "-> xtables-legacy-multi",
		"usr/lib/x86_64-linux-gnu/xtables/libxt_conntrack.so": "file",
		"usr/lib/x86_64-linux-gnu/libnftnl.so.11":             "-> libnftnl.so.11.6.0",
		"usr/sbin/conntrack":                                  "file",
		"etc/protocols":                                       "file",
		// libc, listed under /lib and /lib64, lands under /usr with the
		// merged-/usr symlinks.
		"lib":                                    "-> usr/lib",
		"lib64":                                  "-> usr/lib64",
		"usr/lib/x86_64-linux-gnu/libc.so.6":     "file",
		"usr/lib64/ld-linux-x86-64.so.2":         "-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"usr/lib/x86_64-linux-gnu/libgcc_s.so.1": "file",
		"run":                                    "dir",
		"tmp":                                    "dir",
	}
	noDocs := []string{"usr/share/doc", "usr/share/man", "usr/lib/x86_64-linux-gnu/gconv", "usr/bin/dpkg", "usr/bin/debconf", "usr/sbin/adduser", "etc/oldpkg.conf"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	cases := map[string]want{
		"registry.k8s.io/kube-apiserver:v1.34.4":          {entrypoint: []string{"/usr/local/bin/kube-apiserver"}, has: kubeLinks("kube-apiserver"), hasNot: []string{"usr/sbin/iptables"}},
		"registry.k8s.io/kube-controller-manager:v1.34.4": {entrypoint: []string{"/usr/local/bin/kube-controller-manager"}, has: kubeLinks("kube-controller-manager")},
		"registry.k8s.io/kube-scheduler:v1.34.4":          {entrypoint: []string{"/usr/local/bin/kube-scheduler"}, has: kubeLinks("kube-scheduler")},
		"registry.k8s.io/kube-proxy:v1.34.4":              {entrypoint: []string{"/usr/local/bin/kube-proxy"}, has: merge(kubeLinks("kube-proxy"), iptables), hasNot: noDocs},
		"registry.k8s.io/etcd:3.6.5-0":                    {entrypoint: []string{"/usr/local/bin/etcd"}, has: kubeLinks("etcd"), hasNot: []string{"usr/local/bin/kube-apiserver"}},
		"registry.k8s.io/coredns/coredns:v1.12.1":         {entrypoint: []string{"/coredns"}, has: map[string]string{"coredns": "file"}},
		"registry.k8s.io/pause:3.10.1":                    {entrypoint: []string{"/pause"}, user: "65535:65535", has: map[string]string{"pause": "file"}},
		"ghcr.io/flannel-io/flannel:v0.28.9": {entrypoint: []string{"/opt/bin/flanneld"}, has: merge(iptables, map[string]string{
			"opt/bin/flanneld": "file", "opt/bin/install-conf": "file",
		}), hasNot: noDocs},
		"ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3": {has: map[string]string{
			"flannel": "file", "bin": "-> usr/bin", "usr/bin/busybox": "file", "usr/bin/cp": "-> busybox",
			"usr/lib/x86_64-linux-gnu/libc.so.6": "file",
		}, hasNot: []string{"usr/sbin/iptables"}},
		"kiln.test/haproxy:2.6.12-1_deb12u3": {
			cmd:    []string{"/usr/sbin/haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"},
			has:    map[string]string{"usr/sbin/haproxy": "file", "etc/haproxy/haproxy.cfg": "file", "etc/passwd": "file", "etc/group": "file", "usr/local/etc/haproxy": "dir"},
			hasNot: append(noDocs, "usr/share/doc/haproxy/README"),
		},
		"kiln.test/toolbox:curl-7.88.1-10_deb12u15": {
			cmd: []string{"/bin/sh"},
			has: map[string]string{
				"usr/bin/curl": "file", "usr/bin/getent": "file", "usr/bin/sleep": "file", "usr/bin/sh": "-> dash", "bin": "-> usr/bin", "tmp": "dir",
			},
			hasNot: noDocs,
		},
		"kiln.test/keepalived:1_2.2.7-1_b2": {
			cmd: []string{"/usr/sbin/keepalived", "--dont-fork", "--log-console", "--log-detail", "-f", "/usr/local/etc/keepalived/keepalived.conf"},
			has: map[string]string{
				"usr/sbin/keepalived": "file", "etc/keepalived": "dir", "usr/local/etc/keepalived": "dir",
				"bin": "-> usr/bin", "usr/bin/sh": "-> dash", "usr/bin/dash": "file", "usr/bin/curl": "file",
				"usr/bin/ip": "file", "usr/bin/grep": "file", "usr/bin/egrep.distrib": "file",
				"usr/lib/x86_64-linux-gnu/libperl.so.5.36": "file", "usr/lib/x86_64-linux-gnu/libnetsnmpagent.so.40": "file",
			},
			hasNot: append(noDocs, "usr/bin/egrep", "usr/bin/perl", "usr/share/perl", "usr/lib/x86_64-linux-gnu/perl",
				"usr/bin/perl5.36-x86_64-linux-gnu", "usr/bin/deb-systemd-helper"),
		},
	}
	for ref, w := range cases {
		img := imgs[ref]
		if img == nil {
			t.Errorf("%s not built", ref)
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if !slices.Equal(c.Entrypoint, w.entrypoint) || !slices.Equal(c.Cmd, w.cmd) || c.User != w.user {
			t.Errorf("%s: entrypoint %q cmd %q user %q, want %q %q %q", ref, c.Entrypoint, c.Cmd, c.User, w.entrypoint, w.cmd, w.user)
		}
		if !slices.Equal(c.Env, []string{Path}) {
			t.Errorf("%s: env %q", ref, c.Env)
		}
		if cf.Architecture != "amd64" || cf.OS != "linux" || !cf.Created.Time.Equal(in.Created) {
			t.Errorf("%s: %s/%s created %v", ref, cf.OS, cf.Architecture, cf.Created)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		all := map[string]tarEntry{}
		for _, l := range layers {
			for k, e := range layerEntries(t, l) {
				all[k] = e
			}
		}
		for p, kind := range w.has {
			e, ok := all[p]
			got := "missing"
			switch {
			case !ok:
			case e.typ == tar.TypeReg:
				got = "file"
			case e.typ == tar.TypeDir:
				got = "dir"
			case e.typ == tar.TypeSymlink:
				got = "-> " + e.link
			}
			if got != kind {
				t.Errorf("%s: /%s is %s, want %s", ref, p, got, kind)
			}
		}
		for _, p := range w.hasNot {
			for k := range all {
				if k == p || strings.HasPrefix(k, p+"/") {
					t.Errorf("%s holds /%s", ref, k)
				}
			}
		}
		if e := all["tmp"]; e.typ == tar.TypeDir && e.mode != 0o1777 {
			t.Errorf("%s: /tmp has mode %o, want 1777", ref, e.mode)
		}
		if e, ok := all["usr/local/bin/kube"]; ok && (e.body != "stand-in multi-call kube binary\n" || e.mode != 0o755) {
			t.Errorf("%s: /usr/local/bin/kube is %q mode %o", ref, e.body, e.mode)
		}
	}
	if got := len(imgs); got != len(cases) {
		t.Errorf("%d images, %d checked", got, len(cases))
	}
}

// containerd keeps a blob once per digest and a snapshot once per chain
// of layers: the kube layer must be byte-identical and first everywhere.
func TestKubeLayerIsSharedByteForByte(t *testing.T) {
	in := standInInputs(t)
	out := t.TempDir()
	results, err := Build(context.Background(), in, out)
	if err != nil {
		t.Fatal(err)
	}
	imgs := loadAll(t, out, results)
	firstLayer := func(ref string, i int) v1.Hash {
		t.Helper()
		ls, err := imgs[ref].Layers()
		if err != nil || len(ls) <= i {
			t.Fatalf("%s: layers %v, %v", ref, len(ls), err)
		}
		d, err := ls[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	kube := firstLayer("registry.k8s.io/kube-apiserver:v1.34.4", 0)
	for _, ref := range []string{"registry.k8s.io/kube-controller-manager:v1.34.4", "registry.k8s.io/kube-scheduler:v1.34.4",
		"registry.k8s.io/kube-proxy:v1.34.4", "registry.k8s.io/etcd:3.6.5-0"} {
		if d := firstLayer(ref, 0); d != kube {
			t.Errorf("%s: first layer %s, kube-apiserver's %s", ref, d, kube)
		}
		if d := firstLayer(ref, 1); d == kube {
			t.Errorf("%s: no symlink layer after the kube layer", ref)
		}
	}
	if a, b := firstLayer("registry.k8s.io/kube-proxy:v1.34.4", 2), firstLayer("ghcr.io/flannel-io/flannel:v0.28.9", 0); a != b {
		t.Errorf("kube-proxy's iptables layer %s differs from flannel's %s", a, b)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	in := standInInputs(t)
	sums := func(dir string) map[string]string {
		t.Helper()
		out := map[string]string{}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := sha256.Sum256(b)
			out[filepath.Base(f)] = hex.EncodeToString(s[:])
		}
		return out
	}
	var first map[string]string
	var firstDigests []v1.Hash
	for i := range 2 {
		// Input files' own times must not reach the images.
		now := time.Now().Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(in.Kube, now, now); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		results, err := Build(context.Background(), in, out)
		if err != nil {
			t.Fatal(err)
		}
		var digests []v1.Hash
		for _, r := range results {
			digests = append(digests, r.Digest)
		}
		if i == 0 {
			first, firstDigests = sums(out), digests
			continue
		}
		if !slices.Equal(digests, firstDigests) {
			t.Errorf("digests %v, then %v", firstDigests, digests)
		}
		if got := sums(out); !maps.Equal(got, first) {
			t.Errorf("archives differ between two builds:\n%v\n%v", first, got)
		}
	}
}

// Golden digests of the images that hold no file of the Debian tree (whose
// owners are the test runner's): a change here means the output bytes
// changed, which must be on purpose.
func TestGoldenDigests(t *testing.T) {
	in := standInInputs(t)
	results, err := Build(context.Background(), in, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	golden := map[string]string{
		"registry.k8s.io/kube-apiserver:v1.34.4":  "sha256:0a7fdd1f955eb32e006d841dacfb9fd15255c74deadb9b7cbba20c22050a28db",
		"registry.k8s.io/coredns/coredns:v1.12.1": "sha256:6a1f07137b136301934f77f68d0d85b759b5cb371275d46b62e726f28a884b0e",
		"registry.k8s.io/pause:3.10.1":            "sha256:e3c2b105b313a4647cfb11a44de1255380c4e225c6dbaabf5b92efc2c2e855f2",
	}
	for _, r := range results {
		if want, ok := golden[r.Ref]; ok && r.Digest.String() != want {
			t.Errorf("%s: digest %s, golden %s", r.Ref, r.Digest, want)
		}
	}
}

func TestBuildNamesEveryMissingBinary(t *testing.T) {
	in := standInInputs(t)
	in.Kube += ".missing"
	os.Remove(filepath.Join(in.Addons, "pause"))
	_, err := Build(context.Background(), in, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "kube.missing: no such file") || !strings.Contains(err.Error(), "addons/pause: no such file") {
		t.Errorf("Build without kube and pause = %v", err)
	}
}
