// Package treepath maps a path as an image tree sees it to its place on
// the build host, following the tree's own symlinks without ever leaving
// the tree. The build (install, customize, boot, the payload extractor)
// and kiln-init (finding the real init in the new root) both need it;
// it is its own package so that kiln-init does not link the namespace
// runner it used to live in.
//
//	host, err := treepath.Confine("/build/root", "/etc/os-release")
//	// /build/root/usr/lib/os-release, when the tree's /etc/os-release
//	// links to ../usr/lib/os-release (or to /usr/lib/os-release)
package treepath

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Confine returns the host path of p inside root, following symlinks as
// the tree itself would see them (an absolute link points into the tree,
// never out of it). Any ".." that would climb above root stops at root.
func Confine(root, p string) (string, error) {
	const maxLinks = 40
	parts := strings.Split(strings.Trim(filepath.ToSlash(p), "/"), "/")
	resolved := "/"
	links := 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		parts = append(strings.Split(strings.Trim(target, "/"), "/"), parts...)
	}
	return filepath.Join(root, resolved), nil
}
