package version

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// needTool skips a test when a reference tool is missing on a developer
// machine, and fails it in CI, where every tool is installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// versionCorpus returns n seeded random version strings built from the
// pieces rpmvercmp treats specially: digit runs with leading zeros, letter
// runs, separators (runs of them, at the ends too), '~', '^' and bytes
// outside ASCII.
func versionCorpus(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 0x6b696c6e))
	pieces := []string{
		"0", "00", "1", "01", "001", "2", "9", "10", "010", "99", "100", "4294967296", "18446744073709551616",
		"a", "b", "z", "A", "Z", "aa", "ab", "rc", "rc1", "beta", "git", "el9", "fc40", "p",
		".", ".", ".", "_", "+", "-", "..", "._", "%", "=",
		"~", "~", "^", "^", "~~", "^^", "~^", "^~",
		"\xc3\xa9", "\xce\xb1", "\xff", "\x80", "\x01",
	}
	out := make([]string, 0, n)
	for len(out) < n {
		k := r.IntN(7)
		var b strings.Builder
		for range k {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		out = append(out, b.String())
	}
	return out
}

// rpmCompare asks rpm itself, in one process call, to compare each pair.
// Versions go to librpmio's own rpmvercmp (loaded by /usr/bin/python3
// through ctypes, so any bytes, the empty string included, reach it as
// is). EVRs go to rpm's embedded Lua, comparing rpm.ver objects (rpmverCmp
// on parsed [E:]V[-R]).
func rpmCompare(t *testing.T, pairs [][2]string, evr bool) []int {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "pairs")
	var buf bytes.Buffer
	for _, p := range pairs {
		buf.WriteString(p[0])
		buf.WriteByte('\t')
		buf.WriteString(p[1])
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if evr {
		rpm := needTool(t, "rpm")
		script := fmt.Sprintf(`%%{lua:
local out = {}
for line in io.lines(%q) do
  local a, b = line:match("^([^\t]*)\t([^\t]*)$")
  local x, y = rpm.ver(a), rpm.ver(b)
  out[#out+1] = (x < y) and "-1" or ((x == y) and "0" or "1")
end
print(table.concat(out, "\n"))
}`, in)
		cmd = exec.Command(rpm, "--eval", script)
	} else {
		py := needTool(t, "/usr/bin/python3")
		cmd = exec.Command(py, "-c", `import ctypes, sys
lib = ctypes.CDLL("librpmio.so.9")
lib.rpmvercmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
lib.rpmvercmp.restype = ctypes.c_int
out = []
for line in open(sys.argv[1], "rb").read().split(b"\n")[:-1]:
    a, b = line.split(b"\t")
    out.append(str(lib.rpmvercmp(a, b)))
print("\n".join(out))
`, in)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd.Path, err, stderr.String())
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(pairs) {
		t.Fatalf("rpm printed %d results for %d pairs; stderr: %s", len(lines), len(pairs), stderr.String())
	}
	res := make([]int, len(lines))
	for i, l := range lines {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("rpm result %d: %q is not a number", i, l)
		}
		res[i] = max(-1, min(1, n))
	}
	return res
}

// TestCompareMatchesRPM is the differential test: thousands of generated
// pairs, compared by Compare and by rpm's own rpmvercmp.
func TestCompareMatchesRPM(t *testing.T) {
	corpus := versionCorpus(1, 1500)
	var pairs [][2]string
	for i := 0; i+1 < len(corpus); i += 2 {
		pairs = append(pairs, [2]string{corpus[i], corpus[i+1]})
	}
	// Near-equal pairs are where the interesting edges are: each string
	// against a one-piece mutation of itself.
	r := rand.New(rand.NewPCG(2, 2))
	muts := []string{"", "0", "~", "^", ".", "a", "1", "\xff", "_"}
	for _, s := range corpus {
		m := muts[r.IntN(len(muts))]
		at := r.IntN(len(s) + 1)
		pairs = append(pairs, [2]string{s, s[:at] + m + s[at:]}, [2]string{s, s})
	}
	for _, tc := range []string{"", "~", "^", ".", "0", "00"} {
		for _, s := range corpus[:50] {
			pairs = append(pairs, [2]string{tc, s}, [2]string{s, tc})
		}
	}
	want := rpmCompare(t, pairs, false)
	bad := 0
	for i, p := range pairs {
		if got := Compare(p[0], p[1]); got != want[i] {
			bad++
			if bad <= 20 {
				t.Errorf("Compare(%q, %q) = %d, rpm says %d", p[0], p[1], got, want[i])
			}
		}
	}
	t.Logf("%d version pairs compared with rpm, %d mismatches", len(pairs), bad)
}

// TestCompareEVRMatchesRPM compares full EVRs (epoch present or not,
// release present on both sides) against rpm's rpmverCmp.
func TestCompareEVRMatchesRPM(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var vs []string
	for _, s := range versionCorpus(4, 3000) {
		// Versions and releases cannot hold '-' or ':' and must not be empty.
		s = strings.NewReplacer("-", ".", ":", ".").Replace(s)
		if s != "" {
			vs = append(vs, s)
		}
	}
	epochs := []string{"", "", "0:", "1:", "2:", "00:", "01:", "10:"}
	evr := func() string {
		return epochs[r.IntN(len(epochs))] + vs[r.IntN(len(vs))] + "-" + vs[r.IntN(len(vs))]
	}
	var pairs [][2]string
	for range 3000 {
		a := evr()
		b := evr()
		pairs = append(pairs, [2]string{a, b})
		// Same version and release, another epoch spelling.
		_, vr, ok := strings.Cut(a, ":")
		if !ok {
			vr = a
		}
		pairs = append(pairs, [2]string{epochs[r.IntN(len(epochs))] + vr, a})
	}
	want := rpmCompare(t, pairs, true)
	bad := 0
	for i, p := range pairs {
		a, err1 := Parse(p[0])
		b, err2 := Parse(p[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("Parse(%q), Parse(%q): %v, %v", p[0], p[1], err1, err2)
		}
		if got := CompareEVR(a, b); got != want[i] {
			bad++
			if bad <= 20 {
				t.Errorf("CompareEVR(%q, %q) = %d, rpm says %d", p[0], p[1], got, want[i])
			}
		}
	}
	t.Logf("%d EVR pairs compared with rpm, %d mismatches", len(pairs), bad)
}
