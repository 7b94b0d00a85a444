package clusterimages

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/firstboot/cni"
)

// Path is the PATH every image sets, Debian's default.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Layer names. A layer is built once per Build and shared by every image
// listing it, byte for byte, so containerd stores it once. The kube layer
// comes first wherever it is used, so its unpacked snapshot is shared too.
const (
	layerKube     = "kube"     // /usr/local/bin/kube, the multi-call binary
	layerIPTables = "iptables" // iptables (nft and legacy) and conntrack from Debian
)

// spec is one image to build: its layers in order and its config.
type spec struct {
	ref    string
	layers []string
	config v1.Config
}

// kubeBinaries are the names the multi-call kube binary answers to in an
// image of its own, by the repository name kubeadm uses.
var kubeBinaries = map[string]bool{
	"kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true,
	"kube-proxy": true, "etcd": true,
}

// plan returns the images to build: kubeadm's (by the references it
// listed), flannel's (by the references kiln's flannel manifest uses), and
// haproxy and keepalived from Debian, tagged with their Debian versions.
func plan(kubeadmRefs []string, deb *Debian) ([]spec, error) {
	var specs []spec
	for _, ref := range kubeadmRefs {
		s := spec{ref: ref, config: v1.Config{Env: []string{Path}}}
		switch repo := repoBase(ref); {
		case kubeBinaries[repo]:
			// Upstream's entrypoint is /go-runner from its base image, which
			// is not here; kubeadm's pods always give the command anyway.
			s.layers = []string{layerKube, "links/" + repo}
			s.config.Entrypoint = []string{"/usr/local/bin/" + repo}
			if repo == "kube-proxy" {
				s.layers = append(s.layers, layerIPTables)
			}
		case repo == "coredns":
			s.layers = []string{"coredns"}
			s.config.Entrypoint = []string{"/coredns"}
		case repo == "pause":
			s.layers = []string{"pause"}
			s.config.Entrypoint = []string{"/pause"}
			s.config.User = "65535:65535" // as upstream's
		default:
			return nil, fmt.Errorf("kubeadm lists %s, which has no recipe here", ref)
		}
		specs = append(specs, s)
	}

	flannel, err := cni.Images(cni.Flannel)
	if err != nil {
		return nil, err
	}
	for _, ref := range flannel {
		s := spec{ref: ref, config: v1.Config{Env: []string{Path}}}
		switch repo := repoBase(ref); repo {
		case "flannel":
			s.layers = []string{layerIPTables, "flannel"}
			s.config.Entrypoint = []string{"/opt/bin/flanneld"}
		case "flannel-cni-plugin":
			// The init container's command is `cp -f /flannel /opt/cni/bin/flannel`.
			s.layers = []string{"flannel-cni-plugin"}
		default:
			return nil, fmt.Errorf("kiln's flannel manifest uses %s, which has no recipe here", ref)
		}
		specs = append(specs, s)
	}

	for _, lb := range []struct {
		pkg string
		cfg v1.Config
	}{
		// The static pods mount the configuration at upstream images' paths
		// and run the default command.
		{"haproxy", v1.Config{
			Cmd: []string{"/usr/sbin/haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"},
			// haproxy's soft stop: finish open connections, as upstream's image does.
			StopSignal: "SIGUSR1",
		}},
		{"keepalived", v1.Config{
			Cmd: []string{"/usr/sbin/keepalived", "--dont-fork", "--log-console", "--log-detail",
				"-f", "/usr/local/etc/keepalived/keepalived.conf"},
		}},
	} {
		v, err := deb.Version(lb.pkg)
		if err != nil {
			return nil, err
		}
		lb.cfg.Env = []string{Path}
		specs = append(specs, spec{ref: "kiln.test/" + lb.pkg + ":" + v, layers: []string{lb.pkg}, config: lb.cfg})
	}
	// The cluster test's probe pod: a shell, getent (glibc's resolver, so
	// the pod's resolv.conf and CoreDNS are what answer) and curl.
	v, err := deb.Version("curl")
	if err != nil {
		return nil, err
	}
	specs = append(specs, spec{ref: "kiln.test/toolbox:curl-" + v, layers: []string{"toolbox"},
		config: v1.Config{Env: []string{Path}, Cmd: []string{"/bin/sh"}}})
	return specs, nil
}

func repoBase(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	return path.Base(r.Context().RepositoryStr())
}

// fillLayer puts the content of the named layer into t.
func fillLayer(t *Tree, layer string, in Inputs, deb *Debian) error {
	addon := func(dst, bin string) error {
		return t.File(dst, filepath.Join(in.Addons, bin), 0o755)
	}
	switch layer {
	case layerKube:
		return t.File("usr/local/bin/kube", in.Kube, 0o755)
	case layerIPTables:
		// kube-proxy and flannel exec iptables, iptables-save and
		// iptables-restore (and the ip6tables ones); the backend is the
		// alternative the Debian tree chose (nft, Debian 12's default).
		if _, err := deb.AddPackages(t, Selection{Packages: []string{"iptables", "conntrack"}}); err != nil {
			return err
		}
		return runtimeDirs(t)
	case "coredns":
		return addon("coredns", "coredns")
	case "pause":
		return addon("pause", "pause")
	case "flannel":
		if err := addon("opt/bin/flanneld", "flanneld"); err != nil {
			return err
		}
		return addon("opt/bin/install-conf", "install-conf")
	case "flannel-cni-plugin":
		if err := addon("flannel", "flannel"); err != nil {
			return err
		}
		if _, err := deb.AddPackages(t, Selection{Packages: []string{"busybox-static | busybox"}}); err != nil {
			return err
		}
		hops := 0
		bb, err := NewTree().resolveParents(deb.Root, "/bin/busybox", &hops)
		if err != nil {
			return fmt.Errorf("finding busybox: %w", err)
		}
		return t.Symlink(path.Join(path.Dir(bb), "cp"), "busybox")
	case "haproxy":
		if _, err := deb.AddPackages(t, Selection{Packages: []string{"haproxy"}}); err != nil {
			return err
		}
		if err := deb.AddAccounts(t, []string{"root", "nobody", "haproxy"}, []string{"root", "nogroup", "haproxy"}); err != nil {
			return err
		}
		if err := t.Dir("usr/local/etc/haproxy", 0o755); err != nil {
			return err
		}
		return runtimeDirs(t)
	case "toolbox":
		sel := Selection{Packages: []string{"curl", "dash", "libc-bin", "coreutils"}}
		if _, err := deb.AddPackages(t, sel); err != nil {
			return err
		}
		if err := deb.AddAccounts(t, []string{"root", "nobody"}, []string{"root", "nogroup"}); err != nil {
			return err
		}
		return runtimeDirs(t)
	case "keepalived":
		// check_apiserver.sh runs under /bin/sh and calls curl, ip and grep
		// (dash and grep are Essential, so nothing depends on them by name).
		// net-snmp's agent library links libperl.so, which needs no Perl
		// module to load, and no Perl code runs: leave out Perl's 50 MB.
		sel := Selection{
			Packages:     []string{"keepalived", "curl", "iproute2", "dash", "grep"},
			Without:      []string{"perl-modules-5.36", "perl-base"},
			WithoutPaths: []string{"/usr/lib/*/perl", "/usr/bin/cpan*", "/usr/bin/perl*"},
		}
		if _, err := deb.AddPackages(t, sel); err != nil {
			return err
		}
		// kiln's keepalived.conf sets script_user root, so keepalived
		// neither needs nor looks for its default keepalived_script user
		// (which Debian's package does not create either).
		if err := deb.AddAccounts(t, []string{"root", "nobody"}, []string{"root", "nogroup"}); err != nil {
			return err
		}
		for _, d := range []string{"usr/local/etc/keepalived", "etc/keepalived"} {
			if err := t.Dir(d, 0o755); err != nil {
				return err
			}
		}
		return runtimeDirs(t)
	}
	if bin, ok := strings.CutPrefix(layer, "links/"); ok && kubeBinaries[bin] {
		return t.Symlink("usr/local/bin/"+bin, "kube")
	}
	return fmt.Errorf("no layer called %q", layer)
}

// runtimeDirs adds /run (pid files, the xtables lock) and /tmp, which
// Debian's base-files would make and no mount provides.
func runtimeDirs(t *Tree) error {
	if err := t.Dir("run", 0o755); err != nil {
		return err
	}
	return t.Dir("tmp", 0o777|fs.ModeSticky)
}
