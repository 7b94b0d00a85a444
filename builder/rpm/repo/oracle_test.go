package repo_test

// Oracle tests: real RPMs built by rpmbuild and indexed by createrepo_c
// must read back as `rpm -qp` describes them; repositories written by
// rpmtest.WriteRepo must be read by libsolv and dnf as kiln reads them.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/rpmtest"
)

// needTool skips the test when a reference tool is missing, unless CI is
// set (CI installs them all), where it fails.
func needTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("%s not installed", tool)
			}
			t.Fatalf("%s not installed (CI must install it)", tool)
		}
	}
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// oracleSpecs exercise every dependency kind, pre-install requirements,
// epochs, a tilde version, rich dependencies, escaping and file types.
var oracleSpecs = map[string]string{
	"a.spec": `Name: kiln-oracle-a
Epoch: 2
Version: 1.2.3
Release: 4.el9
Summary: Oracle <package> & "friends"
License: MIT and (BSD or GPLv2)
URL: https://example.org/a?x=1&y=2
Provides: kiln-virtual = 5.0
Provides: libkilnfake.so.1()(64bit)
Requires: bash >= 4.0
Requires(pre): /bin/sh
Requires(post): coreutils
Requires(preun): grep
Requires: (kiln-oracle-b if kiln-oracle-c)
Requires: /usr/share/kiln-b/data
Conflicts: kiln-bad < 1:2.0-3
Obsoletes: kiln-old <= 1.0
Recommends: kiln-rec
Suggests: kiln-sugg > 2
Supplements: (kiln-oracle-b and langpacks-en)
Enhances: kiln-enh = 3.0
%description
Long description with <markup> & stuff.
%install
mkdir -p %{buildroot}/etc/kiln %{buildroot}/usr/bin %{buildroot}/usr/share/kiln %{buildroot}/usr/lib/kiln/sbin %{buildroot}/var/log
echo x > %{buildroot}/etc/kiln/a.conf
printf '#!/bin/sh\necho hi\n' > %{buildroot}/usr/bin/kiln-a
chmod 755 %{buildroot}/usr/bin/kiln-a
echo y > %{buildroot}/usr/share/kiln/data
echo z > "%{buildroot}/usr/share/kiln/with space & amp"
echo w > %{buildroot}/usr/lib/kiln/sbin/tool
%files
%dir /etc/kiln
%config(noreplace) /etc/kiln/a.conf
/usr/bin/kiln-a
/usr/share/kiln
/usr/lib/kiln
%ghost /var/log/kiln.log
%pre
true
%post
true
`,
	"b.spec": `Name: kiln-oracle-b
Version: 1.0~rc1
Release: 1
Summary: Second oracle package
License: ASL 2.0
BuildArch: noarch
Requires: kiln-oracle-a = 2:1.2.3-4.el9
%description
B.
%install
mkdir -p %{buildroot}/usr/share/kiln-b %{buildroot}/usr/sbin
echo d > %{buildroot}/usr/share/kiln-b/data
echo s > %{buildroot}/usr/sbin/kiln-b
%files
/usr/share/kiln-b
/usr/sbin/kiln-b
`,
	"c.spec": `Name: kiln-oracle-c
Version: 3
Release: 0.1.beta
Summary: Third
License: MIT
BuildArch: noarch
Provides: kiln-c-feature(x) >= 1
Conflicts: kiln-oracle-b
%description
C.
%files
`,
}

// buildOracleRPMs builds the specs with rpmbuild into dir/pkgs.
func buildOracleRPMs(t *testing.T) (pkgDir string, rpms []string) {
	t.Helper()
	needTool(t, "rpmbuild", "rpm")
	top := t.TempDir()
	pkgDir = filepath.Join(top, "pkgs")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, spec := range oracleSpecs {
		file := filepath.Join(top, name)
		if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, top, "rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--target", "x86_64", file)
	}
	found, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", "*.rpm"))
	if len(found) != len(oracleSpecs) {
		t.Fatalf("rpmbuild made %d RPMs, want %d", len(found), len(oracleSpecs))
	}
	for _, f := range found {
		dst := filepath.Join(pkgDir, filepath.Base(f))
		if err := os.Rename(f, dst); err != nil {
			t.Fatal(err)
		}
		rpms = append(rpms, dst)
	}
	slices.Sort(rpms)
	return pkgDir, rpms
}

// rpmView is what `rpm -qp` says about a package, turned into the form
// createrepo_c puts into primary.xml.
type rpmView struct {
	header string   // NEVRA, summary, sizes... one line
	deps   []string // "kind: dep [pre]", sorted
	files  []string // every path, sorted
}

func queryRPM(t *testing.T, file string) rpmView {
	t.Helper()
	var v rpmView
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	sum := sha256.Sum256(data)
	// rpm prints "(none)" for an unset tag; createrepo_c writes it empty.
	v.header = strings.TrimSpace(run(t, "", "rpm", "-qp", "--qf",
		`%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SUMMARY}|%{URL}|%{LICENSE}|%{SOURCERPM}|%{BUILDTIME}|%{LONGSIZE}`, file)) +
		fmt.Sprintf("|%d|%s|%s", st.Size(), hex.EncodeToString(sum[:]), filepath.Base(file))
	v.header = strings.ReplaceAll(v.header, "|(none)|", "||")
	provides := lines(run(t, "", "rpm", "-qp", "--provides", file))
	for _, kind := range []string{"provides", "requires", "conflicts", "obsoletes", "recommends", "suggests", "supplements", "enhances"} {
		if kind == "requires" {
			// createrepo_c drops rpmlib() requirements and those the
			// package provides itself, marks %pre and %post ones pre="1",
			// and merges duplicates.
			seen := map[string]bool{}
			for _, l := range lines(run(t, "", "rpm", "-qp", "--qf", `[%{REQUIRENEVRS}|%{REQUIREFLAGS:deptype}\n]`, file)) {
				dep, types, _ := strings.Cut(l, "|")
				if strings.HasPrefix(dep, "rpmlib(") || slices.Contains(provides, dep) {
					continue
				}
				pre := false
				for _, ty := range strings.Split(types, ",") {
					pre = pre || ty == "pre" || ty == "post"
				}
				e := "requires: " + dep + map[bool]string{true: " [pre]"}[pre]
				if !seen[e] {
					seen[e] = true
					v.deps = append(v.deps, e)
				}
			}
			continue
		}
		for _, l := range lines(run(t, "", "rpm", "-qp", "--"+kind, file)) {
			v.deps = append(v.deps, kind+": "+l)
		}
	}
	slices.Sort(v.deps)
	for _, l := range lines(run(t, "", "rpm", "-qpl", file)) {
		if l != "(contains no files)" {
			v.files = append(v.files, l)
		}
	}
	slices.Sort(v.files)
	return v
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// kilnView renders a parsed package the same way as queryRPM.
func kilnView(p *repo.Package) rpmView {
	v := rpmView{header: fmt.Sprintf("%s|%d|%s|%s|%s|%s|%s|%s|%s|%d|%d|%d|%s|%s",
		p.Name, p.EVR.Epoch, p.EVR.Version, p.EVR.Release, p.Arch, p.Summary, p.URL, p.License, p.SourceRPM, p.BuildTime, p.InstalledSize,
		p.Size, p.Checksum.Value, p.Location)}
	for _, l := range []struct {
		kind string
		deps []repo.Dep
	}{
		{"provides", p.Provides}, {"requires", p.Requires}, {"conflicts", p.Conflicts}, {"obsoletes", p.Obsoletes},
		{"recommends", p.Recommends}, {"suggests", p.Suggests}, {"supplements", p.Supplements}, {"enhances", p.Enhances},
	} {
		for _, d := range l.deps {
			e := l.kind + ": " + d.String()
			if d.Pre {
				e += " [pre]"
			}
			v.deps = append(v.deps, e)
		}
	}
	slices.Sort(v.deps)
	v.files = slices.Sorted(slices.Values(p.Files))
	return v
}

// recompressZstd turns a createrepo_c repository's gzip metadata into
// zstd with the zstd tool (Debian's createrepo_c cannot write zstd), and
// rewrites repomd.xml to match.
func recompressZstd(t *testing.T, dir string) {
	t.Helper()
	needTool(t, "zstd")
	mdFile := filepath.Join(dir, "repodata", "repomd.xml")
	md, err := os.ReadFile(mdFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(md)
	gzs, _ := filepath.Glob(filepath.Join(dir, "repodata", "*.xml.gz"))
	for _, gz := range gzs {
		old, _ := os.ReadFile(gz)
		oldSum := sha256.Sum256(old)
		plain := strings.TrimSuffix(gz, ".gz")
		run(t, "", "gzip", "-d", "-k", gz)
		run(t, "", "zstd", "-q", "-19", "--rm", plain, "-o", plain+".zst")
		zst, _ := os.ReadFile(plain + ".zst")
		newSum := sha256.Sum256(zst)
		newName := strings.Replace(filepath.Base(plain)+".zst", hex.EncodeToString(oldSum[:]), hex.EncodeToString(newSum[:]), 1)
		if err := os.Rename(plain+".zst", filepath.Join(dir, "repodata", newName)); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, filepath.Base(gz), newName)
		text = strings.ReplaceAll(text, hex.EncodeToString(oldSum[:]), hex.EncodeToString(newSum[:]))
		text = strings.ReplaceAll(text, "<size>"+strconv.Itoa(len(old))+"</size>", "<size>"+strconv.Itoa(len(zst))+"</size>")
		os.Remove(gz)
	}
	if err := os.WriteFile(mdFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOracleCreaterepo(t *testing.T) {
	needTool(t, "createrepo_c")
	_, rpms := buildOracleRPMs(t)
	want := map[string]rpmView{}
	for _, f := range rpms {
		v := queryRPM(t, f)
		want[strings.SplitN(v.header, "|", 2)[0]] = v
	}
	for _, comp := range []string{"gz", "xz", "bz2", "zst"} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range rpms {
				data, _ := os.ReadFile(f)
				os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644)
			}
			ct := comp
			if comp == "zst" {
				ct = "gz"
			}
			// --no-database: kiln needs neither the sqlite files nor --update.
			run(t, "", "createrepo_c", "-q", "--no-database", "--general-compress-type", ct, dir)
			if comp == "zst" {
				recompressZstd(t, dir)
			}
			if dbs, _ := filepath.Glob(filepath.Join(dir, "repodata", "*.sqlite*")); len(dbs) != 0 {
				t.Fatalf("createrepo_c wrote sqlite files %v", dbs)
			}
			r, err := repo.Load(context.Background(), repo.Source{Name: "oracle", BaseURLs: []string{"file://" + dir}},
				repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil)})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Packages) != len(rpms) {
				t.Fatalf("read %d packages, want %d", len(r.Packages), len(rpms))
			}
			check := func(stage string, full bool) {
				for _, p := range r.Packages {
					w, ok := want[p.Name]
					if !ok {
						t.Fatalf("unexpected package %s", p)
					}
					got := kilnView(p)
					if got.header != w.header {
						t.Errorf("%s header:\n got %s\nwant %s", p.Name, got.header, w.header)
					}
					if !slices.Equal(got.deps, w.deps) {
						t.Errorf("%s dependencies:\n got %q\nwant %q", p.Name, got.deps, w.deps)
					}
					wantFiles := w.files
					if !full {
						wantFiles = slices.DeleteFunc(slices.Clone(w.files), func(f string) bool { return !repo.InPrimary(f) })
					}
					if !slices.Equal(got.files, wantFiles) {
						t.Errorf("%s files %s:\n got %q\nwant %q", p.Name, stage, got.files, wantFiles)
					}
				}
			}
			check("in primary", false)
			if err := r.LoadFilelists(context.Background()); err != nil {
				t.Fatal(err)
			}
			check("after LoadFilelists", true)
		})
	}
}

// solvScript prints every solvable of a repository as libsolv reads it:
// NEVRA, then its dependencies, sorted, one per line.
const solvScript = `
import solv, sys
pool = solv.Pool()
pool.setarch("x86_64")
repo = pool.add_repo("t")
d = sys.argv[1]
def xf(p):
    f = solv.xfopen(p)
    if f is None:
        sys.exit("cannot open " + p)
    return f
repo.add_repomdxml(xf(d + "/repodata/repomd.xml"), 0)
import xml.etree.ElementTree as ET
ns = {"r": "http://linux.duke.edu/metadata/repo"}
md = ET.parse(d + "/repodata/repomd.xml")
for typ, flags in (("primary", 0), ("filelists", solv.Repo.REPO_EXTEND_SOLVABLES)):
    loc = md.find("r:data[@type='%s']/r:location" % typ, ns).get("href")
    if not repo.add_rpmmd(xf(d + "/" + loc), "FL" if typ == "filelists" else None, flags):
        sys.exit("libsolv: " + pool.errstr)
keys = (("provides", solv.SOLVABLE_PROVIDES), ("requires", solv.SOLVABLE_REQUIRES), ("conflicts", solv.SOLVABLE_CONFLICTS),
        ("obsoletes", solv.SOLVABLE_OBSOLETES), ("recommends", solv.SOLVABLE_RECOMMENDS), ("suggests", solv.SOLVABLE_SUGGESTS),
        ("supplements", solv.SOLVABLE_SUPPLEMENTS), ("enhances", solv.SOLVABLE_ENHANCES))
def dstr(dep):
    t = str(dep).replace(" << ", " < ").replace(" >> ", " > ")
    # libsolv renders the generator's simple rich dependencies as
    # "A IF B", "A | B", "A & B"; spell them as rpm does.
    for op, word in ((" IF ", " if "), (" | ", " or "), (" & ", " and ")):
        if op in t:
            return "(" + t.replace(op, word) + ")"
    return t
out = []
for s in repo.solvables:
    lines = []
    for name, key in keys:
        # For requires, marker -1 gives the plain ones and 1 the pre ones.
        for dep in s.lookup_deparray(key, -1):
            lines.append(name + ": " + dstr(dep))
        if key == solv.SOLVABLE_REQUIRES:
            for dep in s.lookup_deparray(key, 1):
                lines.append(name + ": " + dstr(dep) + " [pre]")
    nfiles = len(list(s.Dataiterator(solv.SOLVABLE_FILELIST, None, solv.Dataiterator.SEARCH_FILES | solv.Dataiterator.SEARCH_COMPLETE_FILELIST)))
    out.append(s.name + "-" + s.evr + "." + s.arch + " files=" + str(nfiles) + "\n" + "\n".join(sorted(lines)))
print("\n".join(sorted(out)))
`

// TestOracleLibsolvReadsWriteRepo checks libsolv reads WriteRepo's output,
// in every compression, as kiln's parser reads it.
func TestOracleLibsolvReadsWriteRepo(t *testing.T) {
	needTool(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import solv").Run(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("python3-solv not installed")
		}
		t.Fatal("python3-solv not installed (CI must install it)")
	}
	pkgs := rpmtest.GenerateDistro(11, 300)
	pkgs[7].Summary = `escaping <&> "test"`
	var want []string
	for _, p := range pkgs {
		var deps []string
		for _, l := range []struct {
			kind string
			deps []repo.Dep
		}{
			{"provides", p.Provides}, {"requires", p.Requires}, {"conflicts", p.Conflicts}, {"obsoletes", p.Obsoletes},
			{"recommends", p.Recommends}, {"suggests", p.Suggests}, {"supplements", p.Supplements}, {"enhances", p.Enhances},
		} {
			for _, d := range l.deps {
				pre := ""
				if d.Pre {
					pre = " [pre]"
				}
				deps = append(deps, l.kind+": "+d.String()+pre)
			}
		}
		slices.Sort(deps)
		want = append(want, fmt.Sprintf("%s files=%d\n%s", p.NEVRA(), len(p.Files), strings.Join(deps, "\n")))
	}
	slices.Sort(want)
	for _, comp := range []string{"gz", "xz", "zst", "bz2", "none"} {
		t.Run(comp, func(t *testing.T) {
			dir := writeRepo(t, pkgs, rpmtest.RepoOptions{Compression: comp})
			got := strings.TrimSpace(run(t, "", "/usr/bin/python3", "-c", solvScript, dir))
			if w := strings.Join(want, "\n"); got != w {
				gl, wl := strings.Split(got, "\n"), strings.Split(w, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("libsolv disagrees at line %d:\n got %q\nwant %q", i, gl[i], wl[i])
					}
				}
				t.Fatalf("libsolv printed %d lines, want %d", len(gl), len(wl))
			}
		})
	}
}

// TestOracleDnfReadsWriteRepo checks dnf lists the packages WriteRepo
// wrote, with a repository built only from the metadata.
func TestOracleDnfReadsWriteRepo(t *testing.T) {
	needTool(t, "dnf")
	pkgs := rpmtest.GenerateDistro(12, 150)
	var want []string
	for _, p := range pkgs {
		want = append(want, fmt.Sprintf("%s-%d:%s-%s.%s", p.Name, p.EVR.Epoch, p.EVR.Version, p.EVR.Release, p.Arch))
	}
	slices.Sort(want)
	for _, comp := range []string{"xz", "zst"} {
		t.Run(comp, func(t *testing.T) {
			dir := writeRepo(t, pkgs, rpmtest.RepoOptions{Compression: comp})
			tmp := t.TempDir()
			conf := filepath.Join(tmp, "dnf.conf")
			os.WriteFile(conf, nil, 0o644)
			out := run(t, "", "dnf", "-q", "--config="+conf, "--setopt=reposdir=/dev/null", "--repofrompath=kiln,"+dir,
				"--installroot="+filepath.Join(tmp, "root"), "--setopt=cachedir="+filepath.Join(tmp, "cache"),
				"--releasever=9", "--forcearch=x86_64", "repoquery", "--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}")
			got := lines(out)
			// dnf may print warnings on stdout for unknown keys; keep NEVRAs.
			re := regexp.MustCompile(`^\S+-\d+:\S+-\S+\.\S+$`)
			got = slices.DeleteFunc(got, func(l string) bool { return !re.MatchString(l) })
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("dnf lists %d packages, want %d; first difference: %v", len(got), len(want), firstDiff(got, want))
			}
		})
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%q vs %q", a[i], b[i])
		}
	}
	return "one list is a prefix of the other"
}

// TestOracleGPGVerifiesSignature checks repomd.xml.asc with gpg.
func TestOracleGPGVerifiesSignature(t *testing.T) {
	needTool(t, "gpg")
	key := testKey(t, "gpg-oracle")
	dir := writeRepo(t, rpmtest.GenerateDistro(1, 5), rpmtest.RepoOptions{SignWith: key})
	home := t.TempDir()
	var pub bytes.Buffer
	if err := key.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(home, "key.gpg")
	os.WriteFile(pubFile, pub.Bytes(), 0o644)
	run(t, "", "gpg", "--homedir", home, "--batch", "--quiet", "--import", pubFile)
	cmd := exec.Command("gpg", "--homedir", home, "--batch", "--verify",
		filepath.Join(dir, "repodata/repomd.xml.asc"), filepath.Join(dir, "repodata/repomd.xml"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Good signature") {
		t.Fatalf("gpg --verify: %v\n%s", err, out)
	}
}

// TestOracleDnfExclude checks Source.Exclude hides what dnf's
// excludepkgs hides.
func TestOracleDnfExclude(t *testing.T) {
	needTool(t, "dnf")
	pkgs := rpmtest.GenerateDistro(13, 60)
	pkgs[10].Name, pkgs[10].Arch = "kernel", "x86_64"
	pkgs[11].Name, pkgs[11].Arch = "kernel-core", "x86_64"
	pkgs[12].Name, pkgs[12].Arch = "kernel", "i686"
	pkgs[13].Name, pkgs[13].EVR.Epoch, pkgs[13].EVR.Version, pkgs[13].EVR.Release = "docker-ce", 3, "27.5.1", "1.el9"
	pkgs[14].Name, pkgs[14].EVR.Epoch, pkgs[14].EVR.Version, pkgs[14].EVR.Release = "docker-ce", 3, "26.1.0", "2.el9"
	dir := writeRepo(t, pkgs, rpmtest.RepoOptions{})
	for _, pattern := range []string{
		"kernel", "kernel*", "kernel.i686", "*.i686", "docker-ce-27.5.1", "docker-ce-3:27.5.1-1.el9",
		"docker-ce-27*", "docker-ce-26.1.0-2.el9." + pkgs[14].Arch, "kernel-[c]ore", "k?rnel", "*-devel", "lib*", "nomatch",
	} {
		t.Run(pattern, func(t *testing.T) {
			tmp := t.TempDir()
			conf := filepath.Join(tmp, "dnf.conf")
			os.WriteFile(conf, nil, 0o644)
			out := run(t, "", "dnf", "-q", "--config="+conf, "--setopt=reposdir=/dev/null", "--repofrompath=kiln,"+dir,
				"--setopt=kiln.excludepkgs="+pattern,
				"--installroot="+filepath.Join(tmp, "root"), "--setopt=cachedir="+filepath.Join(tmp, "cache"),
				"--releasever=9", "--forcearch=x86_64", "repoquery", "--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}")
			re := regexp.MustCompile(`^\S+-\d+:\S+-\S+\.\S+$`)
			want := slices.DeleteFunc(lines(out), func(l string) bool { return !re.MatchString(l) })
			slices.Sort(want)
			if (len(want) < len(pkgs)) != (pattern != "nomatch") {
				t.Fatalf("dnf kept %d of %d packages: the exclude did not act as the test expects", len(want), len(pkgs))
			}
			r, err := repo.Load(context.Background(), repo.Source{Name: "kiln", BaseURLs: []string{"file://" + dir}, Exclude: []string{pattern}},
				repo.Options{CacheDir: t.TempDir(), Client: fastClient(nil)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range r.Packages {
				got = append(got, fmt.Sprintf("%s-%d:%s-%s.%s", p.Name, p.EVR.Epoch, p.EVR.Version, p.EVR.Release, p.Arch))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("exclude %q keeps %d packages, dnf %d; first difference: %s", pattern, len(got), len(want), firstDiff(got, want))
			}
		})
	}
}
