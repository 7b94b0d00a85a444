// Package buildinfo says which kiln built an image. The version is stamped
// at link time by the Makefile (-X) and falls back to the module version Go
// records, so `go install` builds report something true too.
package buildinfo

import "runtime/debug"

// version is set with -ldflags "-X github.com/kiln-build/kiln/builder/buildinfo.version=v0.1.0".
var version string

// Version returns kiln's version: the stamped one, the module version, or "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
