// Package profiles holds kiln's built-in profiles, embedded in the binary.
// `kiln profiles list` shows them; a user's profile can `extends:` one by
// name.
package profiles

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// FS returns the built-in profiles as NAME.yaml files.
func FS() fs.FS { return files }

// Names lists the built-in profiles, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		if path.Ext(e.Name()) == ".yaml" {
			names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(names)
	return names
}
