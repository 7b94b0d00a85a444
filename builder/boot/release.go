package boot

import (
	"bufio"
	"fmt"
	"github.com/kiln-build/kiln/builder/treepath"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Release is the image's distribution release, as its os-release says.
type Release struct {
	ID      string   // "centos", "rocky", "debian"...
	IDLike  []string // "rhel", "fedora"...
	Version string   // VERSION_ID: "7", "9.4", "10"
}

// elIDs are the distributions that are Enterprise Linux when their
// os-release does not say ID_LIKE=rhel.
var elIDs = []string{"rhel", "centos", "rocky", "almalinux", "ol", "scientific", "eurolinux", "circle", "navy"}

// EL returns the Enterprise Linux major release (7, 8, 9, 10), or 0 for
// a release that is not EL or whose version is unknown.
func (r Release) EL() int {
	if !slices.Contains(elIDs, r.ID) && !slices.Contains(r.IDLike, "rhel") {
		return 0
	}
	major, _, _ := strings.Cut(r.Version, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}

// GrubLinuxEFI reports whether GRUB must load the kernel with linuxefi and
// initrdefi under UEFI. EL7's GRUB 2.02 (signed for shim, and its
// x86_64-efi modules) has them as the EFI loader and no working `linux`
// there; from EL8 on, `linux` and `initrd` are the commands on every
// platform (linuxefi is at most an alias).
func (r Release) GrubLinuxEFI() bool {
	el := r.EL()
	return el != 0 && el < 8
}

// ReadRelease reads the tree's os-release (/etc/os-release, else
// /usr/lib/os-release, symlinks followed inside the tree). A tree without
// one is a Release with nothing set.
func ReadRelease(root string) (Release, error) {
	var r Release
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		host, err := treepath.Confine(root, p)
		if err != nil {
			return r, err
		}
		f, err := os.Open(host)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return r, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			if !ok || strings.HasPrefix(k, "#") {
				continue
			}
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			} else {
				v = strings.Trim(v, `"'`)
			}
			switch k {
			case "ID":
				r.ID = v
			case "ID_LIKE":
				r.IDLike = strings.Fields(v)
			case "VERSION_ID":
				r.Version = v
			}
		}
		if err := sc.Err(); err != nil {
			return r, fmt.Errorf("reading %s: %w", p, err)
		}
		return r, nil
	}
	return r, nil
}
