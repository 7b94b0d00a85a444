package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/builder/cluster"
	"github.com/kiln-build/kiln/builder/vsphere"
	"github.com/kiln-build/kiln/builder/vsphere/vspheretest"
	"github.com/kiln-build/kiln/firstboot/config"
	"github.com/kiln-build/kiln/firstboot/platform"
)

// An example is one kiln command line shown to users: in a command's
// --help, or in a code block of README.md or docs/.
type example struct {
	where string   // "docs/vsphere.md:123" or "kiln vsphere clone --help"
	args  []string // without the leading "kiln"
}

// docFiles are the documents whose examples are checked.
func docFiles(t *testing.T) []string {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	return append([]string{"../../README.md"}, files...)
}

var (
	fence      = regexp.MustCompile("^```")
	shellFence = regexp.MustCompile("^```(sh|bash|shell|console)$")
	// kiln's own output in an indented block: "kiln build: ...", "kiln: ..."
	kilnOutput = regexp.MustCompile(`^\s*kiln(-[a-z]+)?( [a-z-]+)?:`)
)

// docExamples extracts the kiln commands of a Markdown file's shell code
// blocks (fenced as sh, bash, shell or console, or indented by four
// spaces; a fence without a language shows output), in document order:
// lines that
// start with kiln (after sudo or VAR=value), the kiln commands chained
// with && or piped, and those inside $(...).
func docExamples(t *testing.T, path string) []example {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(path, "../../")
	var out []example
	lines := strings.Split(string(data), "\n")
	inFence, shell := false, false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if fence.MatchString(l) {
			inFence, shell = !inFence, !inFence && shellFence.MatchString(l)
			continue
		}
		code := inFence && shell
		if !inFence && strings.HasPrefix(l, "    ") && !kilnOutput.MatchString(l) {
			code = true
		}
		if !code || strings.Contains(l, "─►") {
			continue
		}
		at := i + 1
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
		}
		for _, args := range kilnCommands(l) {
			out = append(out, example{where: fmt.Sprintf("%s:%d", name, at), args: args})
		}
	}
	return out
}

// helpExamples are the Example lines of every command's --help.
func helpExamples(root *cobra.Command) []example {
	var out []example
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range strings.Split(strings.ReplaceAll(c.Example, "\\\n", " "), "\n") {
			for _, args := range kilnCommands(l) {
				out = append(out, example{where: c.CommandPath() + " --help", args: args})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// kilnCommands splits one shell line into its commands and keeps the kiln
// ones, without "kiln". It knows quotes, $(...), |, &&, ||, ;, > and #.
func kilnCommands(line string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	redirect := false // the next word is a redirection's target, not an argument
	flush := func() {
		if inWord {
			if !redirect {
				words = append(words, word.String())
			}
			word.Reset()
			inWord, redirect = false, false
		}
	}
	end := func() {
		flush()
		for len(words) > 0 && (words[0] == "sudo" || strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-")) {
			words = words[1:]
		}
		if len(words) > 0 && words[0] == "kiln" {
			cmds = append(cmds, words[1:])
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '$' && i+1 < len(line) && line[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(line); j++ {
				if line[j] == '(' {
					depth++
				} else if line[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			inner := line[i+2 : min(j, len(line))]
			cmds = append(cmds, kilnCommands(inner)...)
			word.WriteString(line[i:min(j+1, len(line))])
			inWord = true
			i = j
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			word.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '$' && j+1 < len(line) && line[j+1] == '(' {
					k := strings.IndexByte(line[j:], ')')
					if k > 0 {
						cmds = append(cmds, kilnCommands(line[j+2:j+k])...)
					}
				}
			}
			word.WriteString(line[i+1 : min(j, len(line))])
			inWord = true
			i = j
		case c == '#' && !inWord:
			end()
			return cmds
		case c == '|' || c == '&' || c == ';':
			end()
			if i+1 < len(line) && (line[i+1] == '|' || line[i+1] == '&') {
				i++
			}
		case c == '>' || c == '<':
			if inWord && strings.Trim(word.String(), "0123456789") == "" {
				word.Reset() // 2>file: the 2 is the descriptor
				inWord = false
			}
			flush()
			redirect = true
		case c == ' ' || c == '\t':
			flush()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	end()
	return cmds
}

// parseError holds an example to the command tree: its command exists,
// every flag is known and takes the value given, the positional arguments
// are as many as the command takes.
func parseError(ex example) error {
	root := newRootCommand()
	c, rest, err := root.Find(ex.args)
	if err == nil && c == root && len(ex.args) > 0 {
		err = fmt.Errorf("names no command")
	}
	if err == nil {
		err = c.ParseFlags(rest)
	}
	if err == nil && c.Args != nil {
		err = c.Args(c, c.Flags().Args())
	}
	if err != nil {
		return fmt.Errorf("%s: kiln %s: %w", ex.where, strings.Join(ex.args, " "), err)
	}
	return nil
}

// TestExamplesParse: every example in --help, README.md and docs/ names a
// command that exists, with flags it has; so a pasted example never fails
// on a renamed command or flag.
func TestExamplesParse(t *testing.T) {
	all := helpExamples(newRootCommand())
	if len(all) < 20 {
		t.Fatalf("only %d --help examples found", len(all))
	}
	for _, f := range docFiles(t) {
		all = append(all, docExamples(t, f)...)
	}
	t.Logf("%d examples", len(all))
	for _, ex := range all {
		if err := parseError(ex); err != nil {
			t.Error(err)
		}
	}
	// The checker itself: a wrong flag or command, or a flag without its
	// value, fails.
	for _, bad := range []string{"kiln vsphere clone --templat x", "kiln clusters new", "kiln build --outdir d p", "kiln metadata --node"} {
		cmds := kilnCommands(bad)
		if len(cmds) != 1 || parseError(example{where: "self-test", args: cmds[0]}) == nil {
			t.Errorf("%q passed the example check", bad)
		}
	}
}

// notRunHere are the documented commands the example tests only parse,
// and why.
var notRunHere = map[string]string{
	"build":                           "needs root, repositories and minutes (the boot test builds images)",
	"resolve":                         "reads the profile's repositories from the network",
	"lock":                            "reads the profile's repositories from the network",
	"fetch":                           "downloads packages from the profile's repositories",
	"inspect":                         "needs a built image (the boot test inspects one)",
	"run":                             "boots QEMU (the boot test runs it)",
	"vsphere destroy --cluster test/": "test/ is a cluster the examples do not create here",
}

func skipReason(args []string) string {
	line := strings.Join(args, " ")
	for prefix, why := range notRunHere {
		if strings.HasPrefix(line, prefix) {
			return why
		}
	}
	return ""
}

// TestDocExamplesRun runs the kiln commands of each document in order, in
// a fresh directory, against govmomi's vCenter simulator: the cluster
// bundle they make is the one the later commands use, the OVA they upload
// is a small one kiln's OVA writer makes. The simulator's VMs boot no
// agent, so before a status or scrub command every node reports done, as
// an agent would. `kiln cluster new` runs first, as the documents assume
// it ran.
func TestDocExamplesRun(t *testing.T) {
	for _, f := range docFiles(t) {
		exs := docExamples(t, f)
		if len(exs) == 0 {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			sim := vsphereEnv(t)
			t.Chdir(t.TempDir())
			os.MkdirAll("out", 0o755)
			vspheretest.WriteOVA(t, "out", "rocky9-k8s", 1)
			var first, rest []example
			for _, ex := range exs {
				if len(ex.args) > 1 && ex.args[0] == "cluster" && ex.args[1] == "new" {
					first = append(first, ex)
				} else {
					rest = append(rest, ex)
				}
			}
			for _, ex := range append(first, rest...) {
				if why := skipReason(ex.args); why != "" {
					t.Logf("%s: kiln %s: parsed only: %s", ex.where, strings.Join(ex.args, " "), why)
					continue
				}
				if len(ex.args) > 1 && ex.args[0] == "vsphere" && (ex.args[1] == "status" || ex.args[1] == "scrub") {
					agentsReportDone(t, sim, ex.args)
				}
				if err := runExample(t, ex.args); err != nil {
					t.Errorf("%s: kiln %s: %v", ex.where, strings.Join(ex.args, " "), err)
				}
			}
		})
	}
}

// runExample runs one example, bounded so that a --wait that never ends
// fails the test rather than hanging it.
func runExample(t *testing.T, args []string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if strings.Contains(out.String()+errOut.String(), vspheretest.Password) || err != nil && strings.Contains(err.Error(), vspheretest.Password) {
		t.Fatalf("kiln %s printed the password", strings.Join(args, " "))
	}
	return err
}

// TestHelpExamplesRun runs every command's --help examples, page by page in
// the order of the command tree, in one directory holding what they name:
// the prod/ bundle (m1 to m3, w1), the rocky9-k8s template in govmomi's
// simulator with its OVA in out/, and node.yaml (a profile extending
// rocky9-k8s) and w1.yaml (w1's metadata). A `kiln cluster new` example runs in a directory of its own,
// since prod/ exists. Commands that need the network, root or QEMU are
// parsed only (notRunHere); TestExamplesParse parses them all.
func TestHelpExamplesRun(t *testing.T) {
	sim := vsphereEnv(t)
	work := t.TempDir()
	t.Chdir(work)
	os.MkdirAll("out", 0o755)
	vspheretest.WriteOVA(t, "out", "rocky9-k8s", 1)
	if err := runExample(t, []string{"vsphere", "upload", "out/rocky9-k8s.ova", "--name", "rocky9-k8s", "--snapshot"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("node.yaml", []byte("apiVersion: kiln/v1\nkind: Profile\nname: node\nextends: rocky9-k8s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	seed := []string{"cluster", "new", "--name", "prod", "--kubernetes-version", "v1.34.2", "--vip", "10.31.100.100",
		"--control-plane", "m1=10.31.100.61", "--control-plane", "m2=10.31.100.62", "--control-plane", "m3=10.31.100.63",
		"--worker", "w1=10.31.100.101", "-o", "prod/"}
	if err := runExample(t, seed); err != nil {
		t.Fatal(err)
	}
	// w1.yaml, the metadata w1 booted with, for `kiln metadata --refresh`.
	w1 := newRootCommand()
	var w1Out bytes.Buffer
	w1.SetOut(&w1Out)
	w1.SetArgs([]string{"metadata", "--cluster", "prod/", "--node", "w1"})
	if err := w1.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("w1.yaml", w1Out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, ex := range helpExamples(newRootCommand()) {
		if why := skipReason(ex.args); why != "" {
			t.Logf("%s: kiln %s: parsed only: %s", ex.where, strings.Join(ex.args, " "), why)
			continue
		}
		if len(ex.args) > 1 && ex.args[0] == "cluster" && ex.args[1] == "new" {
			t.Chdir(t.TempDir())
		}
		if len(ex.args) > 1 && ex.args[0] == "vsphere" && (ex.args[1] == "status" || ex.args[1] == "scrub") {
			agentsReportDone(t, sim, ex.args)
		}
		if err := runExample(t, ex.args); err != nil {
			t.Errorf("%s: kiln %s: %v", ex.where, strings.Join(ex.args, " "), err)
		}
		ran++
		t.Chdir(work)
	}
	if ran < 30 {
		t.Errorf("only %d --help examples ran", ran)
	}
}

// agentsReportDone sets, on every VM of the bundle named by --cluster, the
// status an agent reports when its node is done.
func agentsReportDone(t *testing.T, sim *vspheretest.Sim, args []string) {
	t.Helper()
	dir := ""
	for i, a := range args {
		if a == "--cluster" && i+1 < len(args) {
			dir = args[i+1]
		}
	}
	s, err := cluster.LoadSpec(dir)
	if err != nil {
		t.Fatalf("reading the bundle %s: %v", dir, err)
	}
	for _, n := range s.Nodes() {
		if len(sim.VMs(t, n.Name)) != 1 {
			continue
		}
		st := config.Status{Node: n.Name, Phase: config.PhaseDone, Message: "node is Ready (simulator stand-in for the agent)", Time: time.Now().UTC()}
		sim.Reconfigure(t, n.Name, map[string]string{vsphere.KeyStatus: strings.TrimPrefix(st.StatusLine(), config.StatusLinePrefix)})
	}
}

// TestDocLimitsMatchTheCode: each limit the documents state is the one the
// code enforces.
func TestDocLimitsMatchTheCode(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
	for _, c := range []struct {
		doc, re string
		want    int64
		unit    int64
	}{
		{"docs/metadata.md", `A decoded document may be at most (\d+) MiB \(` + "`config.MaxDocumentSize`", int64(config.MaxDocumentSize), 1 << 20},
		{"docs/metadata.md", `A decoded document may be at most (\d+) MiB`, int64(platform.MaxMetadataSize), 1 << 20},
		{"docs/vsphere.md", `The encoded metadata must fit in (\d+) KiB`, vsphere.MaxGuestinfoValue, 1 << 10},
		{"README.md", "`--ttl` \\(1h, at most (\\d+)h\\)", int64(cluster.MaxKubeconfigTTL / time.Hour), 1},
		{"docs/metadata.md", `--ttl.: 1h by default and at most (\d+)h`, int64(cluster.MaxKubeconfigTTL / time.Hour), 1},
	} {
		m := regexp.MustCompile(c.re).FindStringSubmatch(read(c.doc))
		if m == nil {
			t.Errorf("%s no longer says %s", c.doc, c.re)
			continue
		}
		var n int64
		fmt.Sscan(m[1], &n)
		if n*c.unit != c.want {
			t.Errorf("%s: %q, but the code's limit is %d bytes (or units)", c.doc, m[0], c.want)
		}
	}
}
