package solve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/builder/rpm/repo"
	"github.com/kiln-build/kiln/builder/rpm/version"
)

// needTool skips when a reference tool is missing on a developer machine
// and fails in CI, where every tool is installed.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil && name == "/usr/bin/python3" {
		err = exec.Command(p, "-c", "import solv").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (with python3-solv) is required in CI: %v", name, err)
		}
		t.Skipf("%s not usable: %v", name, err)
	}
	return p
}

// pk builds a package from "name-[e:]v-r.arch" and dependency lines:
// "P: cap [op evr]" (provides), "R:" requires, "C:" conflicts, "O:"
// obsoletes, "Rec:", "Sug:", "Sup:", "Enh:", and "F: /path" files.
func pk(nevra string, deps ...string) *repo.Package {
	i := strings.LastIndexByte(nevra, '.')
	arch := nevra[i+1:]
	nevr := nevra[:i]
	j := strings.LastIndexByte(nevr, '-')
	k := strings.LastIndexByte(nevr[:j], '-')
	p := &repo.Package{Name: nevr[:k], Arch: arch, EVR: version.MustParse(nevr[k+1:])}
	p.Provides = append(p.Provides, repo.Dep{Name: p.Name, Flags: repo.EQ, EVR: p.EVR})
	for _, line := range deps {
		kind, text, _ := strings.Cut(line, ":")
		text = strings.TrimSpace(text)
		if kind == "F" {
			p.Files = append(p.Files, text)
			continue
		}
		d := parseTestDep(text)
		switch kind {
		case "P":
			p.Provides = append(p.Provides, d)
		case "R":
			p.Requires = append(p.Requires, d)
		case "C":
			p.Conflicts = append(p.Conflicts, d)
		case "O":
			p.Obsoletes = append(p.Obsoletes, d)
		case "Rec":
			p.Recommends = append(p.Recommends, d)
		case "Sug":
			p.Suggests = append(p.Suggests, d)
		case "Sup":
			p.Supplements = append(p.Supplements, d)
		case "Enh":
			p.Enhances = append(p.Enhances, d)
		default:
			panic("pk: unknown dependency kind " + kind)
		}
	}
	return p
}

func parseTestDep(s string) repo.Dep {
	if strings.HasPrefix(s, "(") {
		return repo.Dep{Name: s}
	}
	f := strings.Fields(s)
	if len(f) == 1 {
		return repo.Dep{Name: f[0]}
	}
	flag := map[string]repo.Flag{"=": repo.EQ, "<": repo.LT, "<=": repo.LE, ">": repo.GT, ">=": repo.GE}[f[1]]
	return repo.Dep{Name: f[0], Flags: flag, EVR: version.MustParse(f[2])}
}

// oracleCase is one resolution asked of both kiln and libsolv.
type oracleCase struct {
	Name    string
	Repos   []Repo
	Install []string
	Exclude []string
	Arch    string
	Weak    bool
}

func (c oracleCase) request() Request {
	arch := c.Arch
	if arch == "" {
		arch = "x86_64"
	}
	return Request{Repos: c.Repos, Install: c.Install, Exclude: c.Exclude, Arch: arch, InstallWeakDeps: c.Weak}
}

type oracleResult struct {
	OK       []string `json:"ok"`
	Problems []string `json:"problems"`
	Error    string   `json:"error"`
}

// libsolvScript resolves each case with libsolv the way dnf (libdnf's
// Goal) does: repo priorities as libsolv priorities (negated), excludes
// and foreign arches invisible, specs selected by dnf's forms (NEVRA, NA,
// NAME, NEVR, NEV, then provides, then files) plus obsoleters of the
// newest versions for a plain name, each job SOLVER_INSTALL|ONE_OF with
// SOLVER_FORCEBEST (best=True), and libdnf's solver flags.
const libsolvScript = `
import ctypes, fnmatch, json, re, sys
import solv

_rpmio = ctypes.CDLL("librpmio.so.9")
_rpmio.rpmvercmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
def vercmp(a, b):
    return _rpmio.rpmvercmp(a.encode(), b.encode())

N = r"([^:(/=<> ]+)"
E = r"(?:([0-9]+):)?"
V = r"([^-:(/=<> ]+)"
A = r"([^-:.(/=<> ]+)"
FORMS = [
    re.compile("^" + N + "-" + E + V + "-" + V + r"\." + A + "$"),
    re.compile("^" + N + r"()()()\." + A + "$"),
    re.compile("^" + N + "()()()()$"),
    re.compile("^" + N + "-" + E + V + "-" + V + "()$"),
    re.compile("^" + N + "-" + E + V + "()()$"),
]
OPS = {"=": solv.REL_EQ, "<": solv.REL_LT, "<=": solv.REL_LT | solv.REL_EQ, ">": solv.REL_GT, ">=": solv.REL_GT | solv.REL_EQ}

def split_evr(evr):
    e = "0"
    if ":" in evr:
        e, evr = evr.split(":", 1)
    v, _, r = evr.rpartition("-")
    return int(e), v, r

def select(pool, visible, spec):
    for fi, rx in enumerate(FORMS):
        m = rx.match(spec)
        if not m:
            continue
        name, epoch, ver, rel, arch = m.groups()
        ids = []
        for s in visible:
            if not fnmatch.fnmatchcase(s.name, name):
                continue
            if arch and not fnmatch.fnmatchcase(s.arch, arch):
                continue
            e, v, r = split_evr(s.evr)
            if epoch and int(epoch) != e:
                continue
            if ver and vercmp(ver, v) != 0:
                continue
            if rel and vercmp(rel, r) != 0:
                continue
            ids.append(s)
        if not ids:
            continue
        groups = {}
        for s in ids:
            groups.setdefault(s.name if any(c in spec for c in "*?[") else "", []).append(s)
        jobs = []
        for key in sorted(groups):
            sel = groups[key]
            if fi == 2:
                latest = {}
                for s in sel:
                    k = (s.name, s.arch)
                    b = latest.get(k)
                    if b is None or s.repo.priority > b.repo.priority or (s.repo.priority == b.repo.priority and s.evrcmp(b) > 0):
                        latest[k] = s
                for l in latest.values():
                    nevr = pool.rel2id(l.nameid, l.evrid, solv.REL_EQ)
                    for s in visible:
                        if s.id != l.id and s.matchesdep(solv.SOLVABLE_OBSOLETES, nevr):
                            sel.append(s)
            jobs.append(sorted(set(s.id for s in sel)))
        return jobs
    f = spec.split()
    if len(f) == 3 and f[1] in OPS:
        d = pool.rel2id(pool.str2id(f[0]), pool.str2id(f[2]), OPS[f[1]])
    else:
        d = pool.str2id(spec)
    ids = set(s.id for s in pool.whatprovides(d))
    if spec.startswith("/"):
        di = pool.Dataiterator(solv.SOLVABLE_FILELIST, spec, solv.Dataiterator.SEARCH_STRING | solv.Dataiterator.SEARCH_FILES)
        vis = set(s.id for s in visible)
        for x in di:
            if x.solvid in vis:
                ids.add(x.solvid)
    if ids:
        return [sorted(ids)]
    return None

def run(case):
    pool = solv.Pool()
    # Debian builds libsolv with Debian semantics by default.
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch(case["arch"])
    for r in case["repos"]:
        repo = pool.add_repo(r["name"])
        repo.priority = -r["priority"]
        f = solv.xfopen(r["primary"])
        repo.add_rpmmd(f, None, 0)
        f.close()
    considered = []
    for s in pool.solvables_iter():
        rex = case["repoexclude"].get(s.repo.name, [])
        if any(fnmatch.fnmatchcase(s.name, g) for g in case["exclude"] + rex):
            continue
        considered.append(s.id)
    pool.set_considered_list(considered)
    pool.addfileprovides()
    pool.createwhatprovides()
    visible = [s for s in pool.solvables_iter() if s.installable()]
    jobs = []
    for spec in case["install"]:
        sel = select(pool, visible, spec)
        if sel is None:
            return {"error": "no package matches %s" % spec}
        for ids in sel:
            jobs.append(pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_ONE_OF | solv.Job.SOLVER_FORCEBEST, pool.towhatprovides(ids)))
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_ALLOW_VENDORCHANGE, 1)
    solver.set_flag(solv.Solver.SOLVER_FLAG_DUP_ALLOW_VENDORCHANGE, 1)
    solver.set_flag(solv.Solver.SOLVER_FLAG_KEEP_ORPHANS, 1)
    solver.set_flag(solv.Solver.SOLVER_FLAG_BEST_OBEY_POLICY, 1)
    solver.set_flag(solv.Solver.SOLVER_FLAG_YUM_OBSOLETES, 1)
    if not case["weak"]:
        solver.set_flag(solv.Solver.SOLVER_FLAG_IGNORE_RECOMMENDED, 1)
    problems = solver.solve(jobs)
    if problems:
        return {"problems": [str(p) for p in problems]}
    trans = solver.transaction()
    return {"ok": sorted("%s-%s.%s" % (s.name, s.evr, s.arch) for s in trans.newsolvables())}

cases = json.load(sys.stdin)
print(json.dumps([run(c) for c in cases]))
`

type libsolvRepo struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
	Primary  string `json:"primary"`
}

type libsolvCase struct {
	Repos       []libsolvRepo       `json:"repos"`
	Install     []string            `json:"install"`
	Exclude     []string            `json:"exclude"`
	RepoExclude map[string][]string `json:"repoexclude"`
	Arch        string              `json:"arch"`
	Weak        bool                `json:"weak"`
}

// runLibsolv writes each case's repositories as repodata and resolves all
// cases in one python3-solv process.
func runLibsolv(t testing.TB, cases []oracleCase) []oracleResult {
	t.Helper()
	py := needTool(t, "/usr/bin/python3")
	dir := t.TempDir()
	var in []libsolvCase
	for ci, c := range cases {
		req := c.request()
		lc := libsolvCase{Install: c.Install, Exclude: c.Exclude, RepoExclude: map[string][]string{}, Arch: req.Arch, Weak: c.Weak}
		if lc.Exclude == nil {
			lc.Exclude = []string{}
		}
		repos := slices.Clone(c.Repos)
		slices.SortStableFunc(repos, func(a, b Repo) int { return strings.Compare(a.Source.Name, b.Source.Name) })
		for ri, r := range repos {
			primary, err := writeRepodata(filepath.Join(dir, fmt.Sprintf("c%d-r%d", ci, ri)), r.Packages)
			if err != nil {
				t.Fatal(err)
			}
			lc.Repos = append(lc.Repos, libsolvRepo{Name: r.Source.Name, Priority: r.Source.Priority, Primary: primary})
			if len(r.Source.Exclude) > 0 {
				lc.RepoExclude[r.Source.Name] = r.Source.Exclude
			}
		}
		in = append(in, lc)
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", libsolvScript)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("libsolv oracle: %v\n%s", err, stderr.String())
	}
	var res []oracleResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("libsolv oracle output: %v\n%s", err, out)
	}
	if len(res) != len(cases) {
		t.Fatalf("libsolv oracle answered %d cases, want %d", len(res), len(cases))
	}
	return res
}

// compareWithLibsolv solves each case with kiln and checks it against
// libsolv's answer: the same set, or both failing. It returns the number
// of mismatches.
func compareWithLibsolv(t *testing.T, cases []oracleCase, want []oracleResult, verbose bool) int {
	t.Helper()
	bad := 0
	for i, c := range cases {
		res, err := Solve(context.Background(), c.request())
		w := want[i]
		switch {
		case w.OK != nil && err != nil:
			bad++
			t.Errorf("%s: kiln failed (%v), libsolv installs %v", c.Name, err, w.OK)
		case w.OK != nil:
			if got := res.NEVRAs(); !slices.Equal(sortedCopy(got), w.OK) {
				bad++
				t.Errorf("%s: kiln installs %v, libsolv installs %v", c.Name, got, w.OK)
			}
		case err == nil:
			bad++
			t.Errorf("%s: kiln installs %v, libsolv fails: %s%v", c.Name, res.NEVRAs(), w.Error, w.Problems)
		default:
			var se *Error
			var nm *NoMatchError
			if !errors.As(err, &se) && !errors.As(err, &nm) {
				bad++
				t.Errorf("%s: kiln error is %T (%v), want *Error or *NoMatchError", c.Name, err, err)
			}
			if verbose {
				t.Logf("%s: both fail; kiln: %v; libsolv: %s%v", c.Name, err, w.Error, w.Problems)
			}
		}
	}
	return bad
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func mustEVR(s string) version.EVR { return version.MustParse(s) }
