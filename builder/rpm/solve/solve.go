package solve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// Repo is one repository's packages with the settings the solver uses
// from its Source: Name (canonical order), Priority (lower wins) and
// Exclude (name globs hidden from this repository).
type Repo struct {
	Source   repo.Source
	Packages []*repo.Package
}

// FilelistLoader merges the repositories' full file lists into the
// packages already handed to Solve (their Package.Files). Solve calls it at
// most once, only when a file dependency cannot be satisfied from the
// paths primary metadata carries.
type FilelistLoader interface {
	LoadFilelists(ctx context.Context) error
}

// Request is what to resolve.
type Request struct {
	Repos []Repo
	// Install holds package specs as dnf accepts them: NAME, NAME.ARCH,
	// NAME-VERSION, NAME-VERSION-RELEASE, NAME-EPOCH:VERSION[-RELEASE],
	// NAME-...ARCH, a capability ("webserver", "libfoo.so.1()(64bit)",
	// "foo >= 1.2") or a file path ("/usr/bin/foo"). Name globs are
	// expanded to one request per matching name.
	Install []string
	// Exclude holds name globs hidden from every repository.
	Exclude []string
	// Arch is the target architecture ("x86_64"); noarch and the
	// architectures libsolv deems compatible are installable too.
	Arch string
	// InstallWeakDeps installs Recommends and Supplements, as dnf's
	// install_weak_deps.
	InstallWeakDeps bool
	// Filelists, when set, is asked for full file lists if a file
	// dependency is otherwise unsatisfiable.
	Filelists FilelistLoader
}

// Result is the resolved set.
type Result struct {
	// Packages is sorted by name, EVR and arch.
	Packages []*repo.Package
}

// NEVRAs returns name-[epoch:]version-release.arch of each package, in
// order.
func (r *Result) NEVRAs() []string {
	out := make([]string, len(r.Packages))
	for i, p := range r.Packages {
		out[i] = p.NEVRA()
	}
	return out
}

// Error is a request that cannot be satisfied. Chain lists the facts that
// together make it unsatisfiable, from the request to the failure; Error()
// sums them up in one line.
type Error struct {
	Summary string
	Chain   []string
}

func (e *Error) Error() string { return e.Summary }

// NoMatchError is a requested spec that matches no package.
type NoMatchError struct {
	Spec string
}

func (e *NoMatchError) Error() string { return fmt.Sprintf("no package matches %q", e.Spec) }

// MetadataError is a dependency in repository metadata that cannot be
// parsed, or that asks rpm for a feature it does not have.
type MetadataError struct {
	Package string
	Dep     string
	Err     error
}

func (e *MetadataError) Error() string {
	return fmt.Sprintf("package %s: dependency %q: %v", e.Package, e.Dep, e.Err)
}

func (e *MetadataError) Unwrap() error { return e.Err }

// ErrUnknownRPMLib is wrapped by a MetadataError for an rpmlib(...)
// requirement the rpm versions kiln targets (4.16 and later) do not
// provide.
var ErrUnknownRPMLib = errors.New("rpm does not provide this rpmlib feature")

// Solve resolves req into the set of packages dnf would install on an
// empty system.
func Solve(ctx context.Context, req Request) (*Result, error) {
	if req.Arch == "" {
		return nil, errors.New("solving packages: no target arch")
	}
	if len(req.Install) == 0 {
		return &Result{}, nil
	}
	u, err := newUniverse(req.Repos, req.Exclude, req.Arch)
	if err != nil {
		return nil, fmt.Errorf("solving packages: %w", err)
	}
	loaded := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := newSolver(u, req.InstallWeakDeps)
		res, missingFile, err := s.solve(ctx, req.Install)
		if err != nil && missingFile && !loaded && req.Filelists != nil {
			if lerr := req.Filelists.LoadFilelists(ctx); lerr != nil {
				return nil, fmt.Errorf("solving packages: loading file lists: %w", lerr)
			}
			loaded = true
			u.reindexFiles()
			continue
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

func sortPackages(ps []*repo.Package) {
	slices.SortFunc(ps, func(a, b *repo.Package) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := evrCompare(a.EVR, b.EVR); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Arch, b.Arch); c != 0 {
			return c
		}
		return strings.Compare(a.Repo, b.Repo)
	})
}

// evrCompare is libsolv's EVRCMP_COMPARE for package EVRs: like rpm, a
// missing release sorts before any release.
func evrCompare(a, b version.EVR) int {
	if c := version.CompareEVR(a, b); c != 0 {
		return c
	}
	switch {
	case a.Release == "" && b.Release != "":
		return -1
	case a.Release != "" && b.Release == "":
		return 1
	}
	return 0
}

// rpmlibProvides is what rpm 4.18's rpmlib provides (rpm.ds.Rpmlib()).
var rpmlibProvides = map[string]string{
	"rpmlib(BuiltinLuaScripts)":        "4.2.2-1",
	"rpmlib(CaretInVersions)":          "4.15.0-1",
	"rpmlib(CompressedFileNames)":      "3.0.4-1",
	"rpmlib(ConcurrentAccess)":         "4.1-1",
	"rpmlib(DynamicBuildRequires)":     "4.15.0-1",
	"rpmlib(ExplicitPackageProvide)":   "4.0-1",
	"rpmlib(FileCaps)":                 "4.6.1-1",
	"rpmlib(FileDigests)":              "4.6.0-1",
	"rpmlib(HeaderLoadSortsTags)":      "4.0.1-1",
	"rpmlib(LargeFiles)":               "4.12.0-1",
	"rpmlib(PartialHardlinkSets)":      "4.0.4-1",
	"rpmlib(PayloadFilesHavePrefix)":   "4.0-1",
	"rpmlib(PayloadIsBzip2)":           "3.0.5-1",
	"rpmlib(PayloadIsLzma)":            "4.4.2-1",
	"rpmlib(PayloadIsXz)":              "5.2-1",
	"rpmlib(PayloadIsZstd)":            "5.4.18-1",
	"rpmlib(RichDependencies)":         "4.12.0-1",
	"rpmlib(ScriptletExpansion)":       "4.9.0-1",
	"rpmlib(ScriptletInterpreterArgs)": "4.0.3-1",
	"rpmlib(TildeInVersions)":          "4.10.0-1",
	"rpmlib(VersionedDependencies)":    "3.0.3-1",
}

// rpmlibSatisfied says whether rpm itself satisfies d, an rpmlib(...)
// requirement.
func rpmlibSatisfied(d dep) bool {
	v, ok := rpmlibProvides[d.name]
	if !ok {
		return false
	}
	if d.rel == 0 {
		return true
	}
	return relMatch(relEQ, version.MustParse(v), false, d.rel, d.evr, d.noRel)
}
