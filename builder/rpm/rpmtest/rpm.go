package rpmtest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/rpmpack"

	"github.com/kiln-build/kiln/builder/rpm/header"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// DefaultBuildTime is the build time (and file mtime) of packages that set
// none, so fixtures are byte-for-byte reproducible.
var DefaultBuildTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Package declares a fixture RPM. Zero values take defaults: Release "1",
// Arch "noarch", License "MIT", Summary from the name, owners "root",
// BuildTime DefaultBuildTime, gzip payload.
type Package struct {
	Name, Version, Release string
	Epoch                  uint32 // 0: no epoch tag
	Arch                   string

	Summary, Description, License, URL, Vendor, Packager, Group string
	BuildTime                                                   time.Time
	Compressor                                                  string // "gzip" (default), "xz", "zstd", "lzma"

	Files []File

	Provides, Requires, Conflicts, Obsoletes    []repo.Dep
	Recommends, Suggests, Supplements, Enhances []repo.Dep

	PreTrans, Pre, Post, PreUn, PostUn, PostTrans Script
}

// File is one entry of the payload. The kind comes from Mode's type bits:
// none for a regular file, fs.ModeDir, or fs.ModeSymlink.
type File struct {
	Path    string      // absolute
	Mode    fs.FileMode // permissions (0644/0755/0777 when zero), setuid/setgid/sticky and type bits
	Content string      // regular files
	Target  string      // symlinks
	// LinkTo makes this a hard link to another regular file of the package:
	// it shares that file's inode, content, mode, owners, mtime and caps.
	LinkTo       string
	Owner, Group string    // "root" when empty
	MTime        time.Time // the package's BuildTime when zero
	Caps         string    // file capabilities in cap_from_text form, e.g. "cap_net_raw=ep"
	Flags        FileFlag
}

// FileFlag marks a file as rpm's %config, %doc, %ghost... do.
type FileFlag uint32

// File flags (RPMFILE_*).
const (
	Config    FileFlag = 1 << 0
	Doc       FileFlag = 1 << 1
	MissingOK FileFlag = 1 << 3
	NoReplace FileFlag = 1 << 4
	Ghost     FileFlag = 1 << 6
	License   FileFlag = 1 << 7
)

// Script is a scriptlet. Interpreter is "/bin/sh" when empty; "<lua>" runs
// the body in rpm's embedded Lua.
type Script struct {
	Body        string
	Interpreter string
}

// Lua is the interpreter name of rpm's embedded Lua.
const Lua = "<lua>"

// ParseDep reads a dependency as a spec file writes it: "name",
// "name >= 1.0-1", "name = 2:1.0", or a rich dependency "(a or b)".
func ParseDep(s string) (repo.Dep, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") {
		return repo.Dep{Name: s}, nil
	}
	f := strings.Fields(s)
	switch len(f) {
	case 1:
		return repo.Dep{Name: f[0]}, nil
	case 3:
		flag, ok := map[string]repo.Flag{"=": repo.EQ, "<": repo.LT, "<=": repo.LE, ">": repo.GT, ">=": repo.GE}[f[1]]
		if !ok {
			return repo.Dep{}, fmt.Errorf("dependency %q: unknown operator %q", s, f[1])
		}
		evr, err := version.Parse(f[2])
		if err != nil {
			return repo.Dep{}, fmt.Errorf("dependency %q: %w", s, err)
		}
		return repo.Dep{Name: f[0], Flags: flag, EVR: evr}, nil
	}
	return repo.Dep{}, fmt.Errorf("dependency %q: want NAME or NAME OP EVR", s)
}

// Deps parses dependency literals with ParseDep and panics on a bad one; it
// is meant for fixture declarations.
func Deps(s ...string) []repo.Dep {
	out := make([]repo.Dep, len(s))
	for i, d := range s {
		dep, err := ParseDep(d)
		if err != nil {
			panic(err)
		}
		out[i] = dep
	}
	return out
}

// RepoPackage describes p as repodata would, for tests that need a
// *repo.Package (fetch, lock, solve, WriteRepo) without parsing repodata:
// name, EVR, arch, location "Packages/<file name>", size and sha256 of rpm
// (the bytes Build returned), build time, its dependencies (with the
// self-provide rpmbuild adds) and its file paths.
func (p *Package) RepoPackage(rpm []byte) *repo.Package {
	q := p.withDefaults()
	sum := sha256.Sum256(rpm)
	evr := version.EVR{Epoch: q.Epoch, Version: q.Version, Release: q.Release}
	rp := &repo.Package{
		Name:      q.Name,
		Arch:      q.Arch,
		EVR:       evr,
		Location:  "Packages/" + q.FileName(),
		Checksum:  repo.Checksum{Type: "sha256", Value: hex.EncodeToString(sum[:])},
		Size:      int64(len(rpm)),
		BuildTime: q.BuildTime.Unix(),
		License:   q.License,
		Summary:   q.Summary,
		Provides:  append([]repo.Dep{{Name: q.Name, Flags: repo.EQ, EVR: evr}}, q.Provides...),
		Requires:  append([]repo.Dep(nil), q.Requires...),
		Conflicts: q.Conflicts, Obsoletes: q.Obsoletes, Recommends: q.Recommends,
		Suggests: q.Suggests, Supplements: q.Supplements, Enhances: q.Enhances,
	}
	for _, f := range q.Files {
		rp.Files = append(rp.Files, f.Path)
	}
	return rp
}

// FileName is NAME-VERSION-RELEASE.ARCH.rpm, the usual file name.
func (p *Package) FileName() string {
	q := p.withDefaults()
	return fmt.Sprintf("%s-%s-%s.%s.rpm", q.Name, q.Version, q.Release, q.Arch)
}

// NEVRA is name-[epoch:]version-release.arch, as kiln prints it.
func (p *Package) NEVRA() string {
	q := p.withDefaults()
	return q.Name + "-" + version.EVR{Epoch: q.Epoch, Version: q.Version, Release: q.Release}.String() + "." + q.Arch
}

func (p *Package) withDefaults() Package {
	q := *p
	if q.Release == "" {
		q.Release = "1"
	}
	if q.Arch == "" {
		q.Arch = "noarch"
	}
	if q.License == "" {
		q.License = "MIT"
	}
	if q.Summary == "" {
		q.Summary = q.Name + " test fixture"
	}
	if q.Description == "" {
		q.Description = q.Summary + "."
	}
	if q.BuildTime.IsZero() {
		q.BuildTime = DefaultBuildTime
	}
	if q.Compressor == "" {
		q.Compressor = "gzip"
	}
	return q
}

// WriteFile builds the package into dir/FileName() and returns the path.
func (p *Package) WriteFile(dir string, opts Options) (string, error) {
	b, err := p.Build(opts)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, p.FileName())
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return "", err
	}
	return dst, nil
}

// Build returns the .rpm file's bytes: rpmpack writes the payload and main
// header; the signature header is written here, so it can be signed,
// unsigned, V3- or V4-signed, or deliberately broken as opts say.
func (p *Package) Build(opts Options) ([]byte, error) {
	q := p.withDefaults()
	if q.Name == "" || q.Version == "" {
		return nil, fmt.Errorf("building fixture rpm: name and version are required")
	}
	unsigned, err := q.pack(opts)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", q.NEVRA(), err)
	}
	out, err := resign(unsigned, opts)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", q.NEVRA(), err)
	}
	return out, nil
}

// MustBuild is Build for fixtures; it panics on error.
func (p *Package) MustBuild(opts Options) []byte {
	b, err := p.Build(opts)
	if err != nil {
		panic(err)
	}
	return b
}

// rpmlib features the payload and header layout rely on, which rpmbuild
// adds to every package's requires.
var baseRPMLib = []repo.Dep{
	{Name: "rpmlib(CompressedFileNames)", Flags: repo.LE, EVR: version.MustParse("3.0.4-1")},
	{Name: "rpmlib(FileDigests)", Flags: repo.LE, EVR: version.MustParse("4.6.0-1")},
	{Name: "rpmlib(PayloadFilesHavePrefix)", Flags: repo.LE, EVR: version.MustParse("4.0-1")},
}

func (q Package) pack(opts Options) ([]byte, error) {
	epoch := rpmpack.NoEpoch
	if q.Epoch != 0 {
		epoch = q.Epoch
	}
	r, err := rpmpack.NewRPM(rpmpack.RPMMetaData{
		Name: q.Name, Version: q.Version, Release: q.Release, Epoch: epoch, Arch: q.Arch,
		Summary: q.Summary, Description: q.Description, Licence: q.License, URL: q.URL,
		Vendor: q.Vendor, Packager: q.Packager, Group: q.Group,
		BuildHost: "kiln-rpmtest", BuildTime: q.BuildTime, Compressor: q.Compressor,
	})
	if err != nil {
		return nil, err
	}
	files, err := q.addFiles(r)
	if err != nil {
		return nil, err
	}

	requires := append([]repo.Dep(nil), q.Requires...)
	rpmlib := append([]repo.Dep(nil), baseRPMLib...)
	if files.caps {
		rpmlib = append(rpmlib, repo.Dep{Name: "rpmlib(FileCaps)", Flags: repo.LE, EVR: version.MustParse("4.6.1-1")})
	}
	scripts := []struct {
		s          Script
		body, prog header.Tag
	}{
		{q.PreTrans, 1151, 1153},
		{q.Pre, header.TagPreIn, header.TagPreInProg},
		{q.Post, header.TagPostIn, header.TagPostInProg},
		{q.PreUn, header.TagPreUn, header.TagPreUnProg},
		{q.PostUn, header.TagPostUn, header.TagPostUnProg},
		{q.PostTrans, 1152, 1154},
	}
	lua := false
	for _, s := range scripts {
		if s.s.Body == "" {
			continue
		}
		prog := s.s.Interpreter
		if prog == "" {
			prog = "/bin/sh"
		}
		lua = lua || prog == Lua
		r.AddCustomTag(int(s.body), rpmpack.EntryString(s.s.Body))
		r.AddCustomTag(int(s.prog), rpmpack.EntryString(prog))
	}
	if lua {
		rpmlib = append(rpmlib, repo.Dep{Name: "rpmlib(BuiltinLuaScripts)", Flags: repo.LE, EVR: version.MustParse("4.2.2-1")})
	}
	switch q.Compressor {
	case "xz", "lzma":
		rpmlib = append(rpmlib, repo.Dep{Name: "rpmlib(PayloadIsXz)", Flags: repo.LE, EVR: version.MustParse("5.2-1")})
	case "zstd":
		rpmlib = append(rpmlib, repo.Dep{Name: "rpmlib(PayloadIsZstd)", Flags: repo.LE, EVR: version.MustParse("5.4.18-1")})
	}

	self := repo.Dep{Name: q.Name, Flags: repo.EQ, EVR: version.EVR{Epoch: q.Epoch, Version: q.Version, Release: q.Release}}
	provides := append([]repo.Dep{self}, q.Provides...)
	lists := []struct {
		deps              []repo.Dep
		extra             []repo.Dep // rpmlib() requirements, flagged RPMSENSE_RPMLIB
		name, flags, vers header.Tag
	}{
		{provides, nil, header.TagProvideName, header.TagProvideFlags, header.TagProvideVersion},
		{requires, rpmlib, header.TagRequireName, header.TagRequireFlags, header.TagRequireVersion},
		{q.Conflicts, nil, header.TagConflictName, header.TagConflictFlags, header.TagConflictVersion},
		{q.Obsoletes, nil, header.TagObsoleteName, header.TagObsoleteFlags, header.TagObsoleteVersion},
		{q.Recommends, nil, header.TagRecommendName, header.TagRecommendFlags, header.TagRecommendVersion},
		{q.Suggests, nil, header.TagSuggestName, header.TagSuggestFlags, header.TagSuggestVersion},
		{q.Supplements, nil, header.TagSupplementName, header.TagSupplementFlags, header.TagSupplementVersion},
		{q.Enhances, nil, header.TagEnhanceName, header.TagEnhanceFlags, header.TagEnhanceVersion},
	}
	for _, l := range lists {
		if len(l.deps)+len(l.extra) == 0 {
			continue
		}
		var names, vers []string
		var flags []uint32
		add := func(d repo.Dep, extra uint32) {
			names = append(names, d.Name)
			v := ""
			if d.Flags != repo.Any {
				v = d.EVR.String()
			}
			vers = append(vers, v)
			f := senseOf(d.Flags) | extra
			if d.Pre {
				f |= header.SenseScriptPre
			}
			flags = append(flags, f)
		}
		for _, d := range l.deps {
			add(d, 0)
		}
		for _, d := range l.extra {
			add(d, header.SenseRPMLib)
		}
		r.AddCustomTag(int(l.name), rpmpack.EntryStringSlice(names))
		r.AddCustomTag(int(l.flags), rpmpack.EntryUint32(flags))
		r.AddCustomTag(int(l.vers), rpmpack.EntryStringSlice(vers))
	}
	if opts.Tamper == TamperPayloadDigest {
		r.AddCustomTag(int(header.TagPayloadDigest), rpmpack.EntryStringSlice([]string{strings.Repeat("0", 64)}))
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func senseOf(f repo.Flag) uint32 {
	switch f {
	case repo.EQ:
		return header.SenseEqual
	case repo.LT:
		return header.SenseLess
	case repo.LE:
		return header.SenseLess | header.SenseEqual
	case repo.GT:
		return header.SenseGreater
	case repo.GE:
		return header.SenseGreater | header.SenseEqual
	}
	return 0
}

type fileSummary struct{ caps bool }

// addFiles hands the files to rpmpack and overrides the per-file tags it
// cannot express: shared inodes (and full sizes and digests) for hard
// links, and file capabilities. rpmpack writes files sorted by path, so the
// overrides are computed in that order.
func (q Package) addFiles(r *rpmpack.RPM) (fileSummary, error) {
	var sum fileSummary
	files := append([]File(nil), q.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	byPath := map[string]int{}
	for i, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return sum, fmt.Errorf("file %q: want a clean absolute path", f.Path)
		}
		if _, dup := byPath[f.Path]; dup {
			return sum, fmt.Errorf("file %q listed twice", f.Path)
		}
		byPath[f.Path] = i
	}
	// Hard-link sets: every member points at the set's root file.
	root := make([]int, len(files))
	for i, f := range files {
		root[i] = i
		if f.LinkTo == "" {
			continue
		}
		j, ok := byPath[f.LinkTo]
		if !ok || files[j].LinkTo != "" || files[j].Mode&fs.ModeType != 0 || f.Mode&fs.ModeType != 0 {
			return sum, fmt.Errorf("file %q: LinkTo %q must name a regular file of the package that is not itself a link", f.Path, f.LinkTo)
		}
		root[i] = j
	}
	// The members of a hard-link set share one inode, so one mode, owner,
	// group, mtime and capability set: the root file's.
	for i, r := range root {
		if r != i {
			files[i].Mode, files[i].Owner, files[i].Group = files[r].Mode, files[r].Owner, files[r].Group
			files[i].MTime, files[i].Caps = files[r].MTime, files[r].Caps
		}
	}
	last := map[int]int{} // set root -> member written last (it carries the data)
	for i := range files {
		last[root[i]] = i
	}
	n := len(files)
	inodes := make([]int32, n)
	sizes := make([]uint32, n)
	digests := make([]string, n)
	caps := make([]string, n)
	for i, f := range files {
		content := files[root[i]].Content
		mode, err := unixMode(f.Mode)
		if err != nil {
			return sum, fmt.Errorf("file %q: %w", f.Path, err)
		}
		body := []byte(content)
		switch {
		case f.Mode&fs.ModeDir != 0:
			body = nil
			sizes[i] = 4096
		case f.Mode&fs.ModeSymlink != 0:
			body = []byte(f.Target)
			sizes[i] = uint32(len(f.Target))
		default:
			sizes[i] = uint32(len(content))
			d := sha256.Sum256(body)
			digests[i] = hex.EncodeToString(d[:])
			if last[root[i]] != i {
				body = nil // rpm expects a hard link's data only on the set's last member
			}
		}
		inodes[i] = int32(root[i] + 1)
		caps[i] = f.Caps
		sum.caps = sum.caps || f.Caps != ""
		mtime := f.MTime
		if mtime.IsZero() {
			mtime = q.BuildTime
		}
		r.AddFile(rpmpack.RPMFile{
			Name:  f.Path,
			Body:  body,
			Mode:  mode,
			Owner: orRoot(f.Owner),
			Group: orRoot(f.Group),
			MTime: uint32(mtime.Unix()),
			Type:  rpmpack.FileType(f.Flags),
		})
	}
	if n > 0 {
		r.AddCustomTag(int(header.TagFileINodes), rpmpack.EntryInt32(inodes))
		r.AddCustomTag(int(header.TagFileSizes), rpmpack.EntryUint32(sizes))
		r.AddCustomTag(int(header.TagFileDigests), rpmpack.EntryStringSlice(digests))
		if sum.caps {
			r.AddCustomTag(int(header.TagFileCaps), rpmpack.EntryStringSlice(caps))
		}
	}
	return sum, nil
}

func orRoot(s string) string {
	if s == "" {
		return "root"
	}
	return s
}

// unixMode converts an fs.FileMode to the st_mode bits rpm stores.
func unixMode(m fs.FileMode) (uint, error) {
	perm := uint(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	switch m & fs.ModeType {
	case 0:
		if perm == 0 {
			perm = 0o644
		}
		return 0o100000 | perm, nil
	case fs.ModeDir:
		if perm == 0 {
			perm = 0o755
		}
		return 0o040000 | perm, nil
	case fs.ModeSymlink:
		return 0o120777, nil
	}
	return 0, fmt.Errorf("unsupported file type %v", m.Type())
}

// digests of the main header that the signature header records.
func headerDigests(h []byte) (sha1hex, sha256hex string) {
	s1 := sha1.Sum(h)
	s2 := sha256.Sum256(h)
	return hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

func md5Of(parts ...[]byte) []byte {
	m := md5.New()
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
