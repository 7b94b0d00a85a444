package repo

import (
	"fmt"

	"github.com/kiln-build/kiln/builder/rpm/version"
)

// Flag is a dependency's comparison operator.
type Flag uint8

// Dependency operators, as spelled in repodata (EQ, LT, LE, GT, GE).
const (
	Any Flag = iota // no version: any version matches
	EQ
	LT
	LE
	GT
	GE
)

var flagSymbols = [...]string{Any: "", EQ: "=", LT: "<", LE: "<=", GT: ">", GE: ">="}

// String returns the operator as rpm prints it ("=", "<=", ...).
func (f Flag) String() string {
	if int(f) < len(flagSymbols) {
		return flagSymbols[f]
	}
	return fmt.Sprintf("Flag(%d)", f)
}

// Dep is one entry of a package's provides, requires, conflicts, obsoletes
// or weak dependencies. A rich (boolean) dependency keeps its whole text in
// Name, starting with '(' and with Flags == Any.
type Dep struct {
	Name  string
	EVR   version.EVR
	Flags Flag
	Pre   bool // pre="1": needed by scriptlets before the package installs
	// (Flags and Pre sit together at the end: 64 bytes instead of 72 per
	// dependency, and a distribution has hundreds of thousands.)
}

// String formats the dependency as rpm -q --requires does.
func (d Dep) String() string {
	if d.Flags == Any {
		return d.Name
	}
	return d.Name + " " + d.Flags.String() + " " + d.EVR.String()
}

// Checksum is a digest as repodata names it.
type Checksum struct {
	Type  string // "sha256", "sha512", "sha1", ...
	Value string // lower-case hex
}

// Package is one package from a repository's primary metadata (plus its
// filelists entry when those have been loaded). It is what the solver
// reasons about and what the lock records; the RPM file itself is only
// downloaded later, by the fetch stage.
type Package struct {
	Name    string
	Arch    string
	EVR     version.EVR
	Repo    string // the profile's repo name it came from
	Summary string
	License string
	URL     string

	Location      string // href, relative to the repository base URL
	LocationBase  string // xml:base of the location element, when set
	Checksum      Checksum
	Size          int64 // size of the .rpm file
	InstalledSize int64
	BuildTime     int64 // seconds since the epoch
	SourceRPM     string
	HeaderStart   int64
	HeaderEnd     int64

	Provides    []Dep
	Requires    []Dep
	Conflicts   []Dep
	Obsoletes   []Dep
	Recommends  []Dep
	Suggests    []Dep
	Supplements []Dep
	Enhances    []Dep

	// Files lists the paths primary.xml carries (the /etc, */bin/* and a
	// few other paths createrepo puts there), or every file once the
	// repository's filelists have been merged in.
	Files []string
}

// NEVRA returns name-[epoch:]version-release.arch, the form kiln prints.
func (p *Package) NEVRA() string {
	return p.Name + "-" + p.EVR.String() + "." + p.Arch
}

// String is NEVRA.
func (p *Package) String() string { return p.NEVRA() }
