package header

import (
	"errors"
	"fmt"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// NEVRA is a package's identity as its main header states it.
type NEVRA struct {
	Name    string
	EVR     version.EVR
	Arch    string
	NoEpoch bool // the header has no epoch tag (EVR.Epoch is then 0)
}

func (n NEVRA) String() string { return n.Name + "-" + n.EVR.String() + "." + n.Arch }

// NEVRA reads name, epoch, version, release and arch. Only the epoch may be
// missing.
func (h *Header) NEVRA() (NEVRA, error) {
	var n NEVRA
	var err error
	if n.Name, err = h.String(TagName); err != nil {
		return n, fmt.Errorf("reading name: %w", err)
	}
	if n.EVR.Version, err = h.String(TagVersion); err != nil {
		return n, fmt.Errorf("reading version: %w", err)
	}
	if n.EVR.Release, err = h.String(TagRelease); err != nil {
		return n, fmt.Errorf("reading release: %w", err)
	}
	if n.Arch, err = h.String(TagArch); err != nil {
		return n, fmt.Errorf("reading arch: %w", err)
	}
	switch e, err := h.Int(TagEpoch); {
	case errors.Is(err, ErrNotFound):
		n.NoEpoch = true
	case err != nil:
		return n, fmt.Errorf("reading epoch: %w", err)
	case e > 1<<32-1:
		return n, fmt.Errorf("epoch %d out of range", e)
	default:
		n.EVR.Epoch = uint32(e)
	}
	return n, nil
}

// Name is the package name, "" if the header has none.
func (h *Header) Name() string { return h.stringOrEmpty(TagName) }

// Version is the package version, "" if the header has none.
func (h *Header) Version() string { return h.stringOrEmpty(TagVersion) }

// Release is the package release, "" if the header has none.
func (h *Header) Release() string { return h.stringOrEmpty(TagRelease) }

// Arch is the package architecture, "" if the header has none.
func (h *Header) Arch() string { return h.stringOrEmpty(TagArch) }

// Epoch is the package epoch, 0 if the header has none.
func (h *Header) Epoch() uint32 {
	e, err := h.Int(TagEpoch)
	if err != nil || e > 1<<32-1 {
		return 0
	}
	return uint32(e)
}

func (h *Header) stringOrEmpty(tag Tag) string {
	s, _ := h.String(tag)
	return s
}

// DepKind selects one of a package's dependency lists.
type DepKind int

// The dependency lists.
const (
	Provides DepKind = iota
	Requires
	Conflicts
	Obsoletes
	Recommends
	Suggests
	Supplements
	Enhances
)

var depTags = [...][3]Tag{
	Provides:    {TagProvideName, TagProvideFlags, TagProvideVersion},
	Requires:    {TagRequireName, TagRequireFlags, TagRequireVersion},
	Conflicts:   {TagConflictName, TagConflictFlags, TagConflictVersion},
	Obsoletes:   {TagObsoleteName, TagObsoleteFlags, TagObsoleteVersion},
	Recommends:  {TagRecommendName, TagRecommendFlags, TagRecommendVersion},
	Suggests:    {TagSuggestName, TagSuggestFlags, TagSuggestVersion},
	Supplements: {TagSupplementName, TagSupplementFlags, TagSupplementVersion},
	Enhances:    {TagEnhanceName, TagEnhanceFlags, TagEnhanceVersion},
}

// Dependency sense flags (rpmds.h) beyond the comparison bits.
const (
	SenseLess         = 1 << 1
	SenseGreater      = 1 << 2
	SenseEqual        = 1 << 3
	SensePostTrans    = 1 << 5
	SensePreReq       = 1 << 6
	SensePreTrans     = 1 << 7
	SenseInterp       = 1 << 8
	SenseScriptPre    = 1 << 9
	SenseScriptPost   = 1 << 10
	SenseScriptPreUn  = 1 << 11
	SenseScriptPostUn = 1 << 12
	SenseRPMLib       = 1 << 24
	SenseConfig       = 1 << 28
)

// Dep is a dependency with rpm's raw sense flags kept.
type Dep struct {
	repo.Dep
	Sense uint32 // rpm's RPMSENSE_* bits
}

// Deps reads one dependency list. A package without the list has none.
func (h *Header) Deps(kind DepKind) ([]Dep, error) {
	if kind < 0 || int(kind) >= len(depTags) {
		return nil, fmt.Errorf("unknown dependency kind %d", kind)
	}
	tags := depTags[kind]
	names, err := h.Strings(tags[0])
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	flags, err := h.Uint32s(tags[1])
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	vers, err := h.Strings(tags[2])
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if flags != nil && len(flags) != len(names) || vers != nil && len(vers) != len(names) {
		return nil, fmt.Errorf("tag %d: %d names, %d flags, %d versions", tags[0], len(names), len(flags), len(vers))
	}
	out := make([]Dep, len(names))
	for i, name := range names {
		d := Dep{Dep: repo.Dep{Name: name}}
		if flags != nil {
			d.Sense = flags[i]
		}
		d.Flags = senseFlag(d.Sense)
		d.Pre = d.Sense&(SensePreReq|SenseScriptPre|SenseScriptPost) != 0
		if vers != nil && vers[i] != "" {
			evr, err := version.Parse(vers[i])
			if err != nil {
				return nil, fmt.Errorf("dependency %q: %w", name, err)
			}
			d.EVR = evr
		}
		if d.Flags == repo.Any {
			d.EVR = version.EVR{}
		}
		out[i] = d
	}
	return out, nil
}

func senseFlag(s uint32) repo.Flag {
	switch s & (SenseLess | SenseGreater | SenseEqual) {
	case SenseEqual:
		return repo.EQ
	case SenseLess:
		return repo.LT
	case SenseLess | SenseEqual:
		return repo.LE
	case SenseGreater:
		return repo.GT
	case SenseGreater | SenseEqual:
		return repo.GE
	}
	return repo.Any
}

// Provides reads the provides list.
func (h *Header) Provides() ([]Dep, error) { return h.Deps(Provides) }

// Requires reads the requires list.
func (h *Header) Requires() ([]Dep, error) { return h.Deps(Requires) }
