package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// firstbootExamples are the kiln-firstboot command lines shown to users:
// in this command's doc comment (its --help, as go doc shows it) and in
// the shell code blocks of README.md and docs/ (fenced as sh, or indented).
func firstbootExamples(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md", "main.go")
	line := regexp.MustCompile(`^(?://\t|    |)(kiln-firstboot(?: .*)?)$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inFence, shell := false, false
		for i, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "```") {
				inFence, shell = !inFence, !inFence && regexp.MustCompile("^```(sh|bash|shell|console)$").MatchString(l)
				continue
			}
			if inFence && !shell {
				continue
			}
			if m := line.FindStringSubmatch(l); m != nil && (inFence || l != m[1]) {
				cmd, _, _ := strings.Cut(m[1], " #")
				out[f+":"+strconv.Itoa(i+1)] = strings.TrimSpace(cmd)
			}
		}
	}
	return out
}

// TestExamplesRun: every kiln-firstboot example parses; every dry run
// runs, on an empty temporary root (the placeholder root and
// "$(mktemp -d)" become one), with a control plane's metadata as m1.yaml.
// A renew-certs dry run gets a control plane's tree (metadata and an API
// server certificate) as its root. An example without --dry-run would
// prepare this host: its flags are checked (with --version, which stops
// after parsing), nothing is run.
func TestExamplesRun(t *testing.T) {
	exs := firstbootExamples(t)
	if len(exs) < 3 {
		t.Fatalf("only %d examples found: %v", len(exs), exs)
	}
	for where, line := range exs {
		t.Logf("%s: %s", where, line)
		words := strings.Fields(line)[1:]
		dry := false
		renew := len(words) > 0 && words[0] == "renew-certs"
		for i, w := range words {
			switch {
			case w == "--dry-run":
				dry = true
			case renew && (w == "/tmp/n1" || w == "DIR"):
				words[i], _ = controlPlaneTree(t, time.Date(2027, 12, 5, 10, 0, 0, 0, time.UTC))
			case w == `"$(mktemp` || w == "/tmp/n1" || w == "DIR":
				words[i] = t.TempDir()
			case w == `-d)"`:
				words[i] = ""
			case strings.HasSuffix(w, ".yaml"):
				words[i] = writeMetadata(t, strings.TrimSuffix(filepath.Base(w), ".yaml"), "")
			}
		}
		words = slices.DeleteFunc(words, func(w string) bool { return w == "" })
		if !dry {
			words = append(words, "--version")
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), words, &stdout, &stderr); code != 0 {
			t.Errorf("%s: %s: exit %d: %s", where, line, code, stderr.String())
		}
	}
}
