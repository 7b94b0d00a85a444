package clusterimages

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Debian is an installed Debian tree (debootstrap's output) that images
// take packages from, file by file as dpkg recorded them.
type Debian struct {
	Root   string
	Status *Status
	// diverted maps a diverted path to where dpkg put it instead and the
	// package that diverted it (var/lib/dpkg/diversions).
	diverted map[string][2]string
}

// OpenDebian reads the dpkg database of the tree at root.
func OpenDebian(root string) (*Debian, error) {
	st, err := ReadStatus(root)
	if err != nil {
		return nil, err
	}
	d := &Debian{Root: root, Status: st, diverted: map[string][2]string{}}
	b, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/diversions"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Three lines per diversion: the path, where it went, the diverting package.
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := 0; i+2 < len(lines); i += 3 {
		d.diverted[lines[i]] = [2]string{lines[i+1], lines[i+2]}
	}
	return d, nil
}

// MaintainerOnly are dependencies that only maintainer scripts use (users,
// services, debconf questions, triggers). Nothing runs those scripts in a
// container, so they and what they pull in (perl, PAM) stay out.
var MaintainerOnly = map[string]bool{
	"adduser":             true,
	"debconf":             true,
	"debconf-2.0":         true,
	"dpkg":                true,
	"init-system-helpers": true,
	"lsb-base":            true,
	"sysvinit-utils":      true,
}

// leftOut are path.Match patterns of what no image takes from a package:
// documentation, and glibc's iconv modules (the charsets a container in
// the C locale uses, UTF-8, ASCII and Latin-1, are built into libc; the
// modules are 8 MB).
var leftOut = []string{
	"/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/lintian",
	"/usr/share/bug", "/usr/share/locale", "/usr/share/bash-completion",
	"/usr/share/zsh", "/usr/share/fish", "/usr/lib/*/gconv",
}

// Selection names packages to copy out of a Debian tree.
type Selection struct {
	// Packages are taken with every package they depend on (see
	// Status.Closure); a name may be "a | b".
	Packages []string
	// Without are dependencies left out on purpose, besides
	// MaintainerOnly, each for a reason given where it is set.
	Without []string
	// WithoutPaths are path.Match patterns of files and directories left
	// out of the selected packages, with what is below them.
	WithoutPaths []string
}

// matchesDir reports whether p, or a directory above it, matches one of
// the path.Match patterns.
func matchesDir(p string, patterns []string) bool {
	for ; p != "/"; p = path.Dir(p) {
		for _, pat := range patterns {
			if ok, _ := path.Match(pat, p); ok {
				return true
			}
		}
	}
	return false
}

// AddPackages copies into t the files of the selected packages, except
// documentation, resolving merged-/usr symlinks as Tree.CopyFromRoot does.
// The alternatives (update-alternatives links) the tree has chosen for
// those files come too, so /usr/sbin/iptables exists when iptables-nft
// does. It returns the packages copied, sorted by name.
func (d *Debian) AddPackages(t *Tree, sel Selection) ([]*Package, error) {
	skip := maps.Clone(MaintainerOnly)
	for _, n := range sel.Without {
		skip[n] = true
	}
	pkgs, err := d.Status.Closure(sel.Packages, skip)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", strings.Join(sel.Packages, ", "), err)
	}
	for _, p := range pkgs {
		files, err := PackageFiles(d.Root, p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if matchesDir(f, leftOut) || matchesDir(f, sel.WithoutPaths) {
				continue
			}
			if div, ok := d.diverted[f]; ok && div[1] != p.Name {
				f = div[0]
			}
			if _, err := t.CopyFromRoot(d.Root, f, false); err != nil {
				return nil, fmt.Errorf("copying %s of package %s: %w", f, p.Name, err)
			}
		}
	}
	if err := d.addAlternatives(t); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// addAlternatives adds each alternative link whose chosen target is in t,
// with its /etc/alternatives link.
func (d *Debian) addAlternatives(t *Tree) error {
	dir := filepath.Join(d.Root, "var/lib/dpkg/alternatives")
	groups, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, g := range groups {
		links, err := alternativeLinks(filepath.Join(dir, g.Name()), g.Name())
		if err != nil {
			return err
		}
		names := make([]string, 0, len(links))
		for n := range links {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			chosen, err := os.Readlink(filepath.Join(d.Root, "etc/alternatives", n))
			if err != nil {
				continue // a slave the chosen alternative does not provide
			}
			hops := 0
			target, err := NewTree().resolveParents(d.Root, path.Clean("/"+chosen), &hops)
			if err != nil || !t.Has(target) {
				continue
			}
			if _, err := t.CopyFromRoot(d.Root, links[n], true); err != nil {
				return fmt.Errorf("alternative %s: %w", n, err)
			}
		}
	}
	return nil
}

// alternativeLinks reads one update-alternatives state file: the mode, the
// master link, then (name, link) pairs for the slaves up to a blank line.
// It returns name -> link for the master and every slave.
func alternativeLinks(file, master string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "" {
			break
		}
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lines) < 2 || len(lines)%2 != 0 {
		return nil, fmt.Errorf("%s: not an update-alternatives state file", file)
	}
	links := map[string]string{master: lines[1]}
	for i := 2; i+1 < len(lines); i += 2 {
		links[lines[i]] = lines[i+1]
	}
	return links, nil
}

// AddAccounts writes etc/passwd and etc/group into t holding only the
// named users and groups, with the entries the Debian tree gave them (a
// package's system user gets its uid when its postinst ran adduser).
func (d *Debian) AddAccounts(t *Tree, users, groups []string) error {
	for _, db := range []struct {
		file  string
		names []string
	}{{"etc/passwd", users}, {"etc/group", groups}} {
		b, err := os.ReadFile(filepath.Join(d.Root, db.file))
		if err != nil {
			return err
		}
		have := map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			if n, _, ok := strings.Cut(l, ":"); ok {
				have[n] = l
			}
		}
		var out strings.Builder
		for _, n := range db.names {
			l, ok := have[n]
			if !ok {
				return fmt.Errorf("/%s of %s has no entry %q", db.file, d.Root, n)
			}
			out.WriteString(l + "\n")
		}
		if err := t.Data(db.file, []byte(out.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Version returns the installed version of a package, made fit for an
// image tag (which allows neither the epoch's ':' nor '+'): 1:2.2.7-1+b2
// becomes 1_2.2.7-1_b2.
func (d *Debian) Version(name string) (string, error) {
	p := d.Status.Package(name)
	if p == nil {
		return "", fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	return strings.NewReplacer(":", "_", "+", "_", "~", "_").Replace(p.Version), nil
}
