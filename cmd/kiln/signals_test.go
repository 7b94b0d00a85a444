package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run kiln's main as a child process: the signal
// tests need a process to signal.
func TestMain(m *testing.M) {
	if os.Getenv("KILN_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stalledBuild is a kiln build whose package downloads hang: stopped
// midway, with its staging tree in the output directory.
type stalledBuild struct {
	args    []string
	out     string
	arrived chan struct{} // a package request is being held
	release chan int      // answer the first held request with this status
}

func newStalledBuild(t *testing.T) *stalledBuild {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kiln build needs root")
	}
	profile, srv := supplyRepo(t)
	upstream, _ := url.Parse(srv.URL(""))
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	b := &stalledBuild{arrived: make(chan struct{}, 16), release: make(chan int, 1)}
	var hold sync.Once
	stall := false
	var mu sync.Mutex
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := stall
		mu.Unlock()
		if !s || !strings.Contains(r.URL.Path, "/Packages/") {
			proxy.ServeHTTP(w, r)
			return
		}
		b.arrived <- struct{}{}
		first := false
		hold.Do(func() { first = true })
		if first {
			select {
			case code := <-b.release:
				w.WriteHeader(code)
				return
			case <-r.Context().Done():
				return
			}
		}
		<-r.Context().Done()
	}))
	t.Cleanup(front.Close)
	writeProfile(t, profile, front.URL+"/k8s", "kubeadm", "kubelet-1.34.2")
	cache := t.TempDir()
	if _, err := run(t, "--cache-dir", cache, "lock", profile); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	stall = true
	mu.Unlock()
	helpers := t.TempDir()
	for _, n := range []string{"kiln-init", "kiln-firstboot"} {
		os.WriteFile(filepath.Join(helpers, n), []byte("placeholder "+n), 0o755)
	}
	b.out = t.TempDir()
	os.WriteFile(filepath.Join(b.out, "keep.txt"), []byte("mine"), 0o644)
	b.args = []string{"--cache-dir", cache, "build", profile, "-o", b.out, "--helpers-dir", helpers}
	return b
}

func (b *stalledBuild) start(t *testing.T, stderr *os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], b.args...)
	cmd.Env = append(os.Environ(), "KILN_TEST_MAIN=1")
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.arrived:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the build never asked for a package")
	}
	if stage, _ := filepath.Glob(filepath.Join(b.out, ".kiln-*")); len(stage) == 0 {
		t.Fatal("no staging tree while the build fetches: not stopped midway")
	}
	return cmd
}

func (b *stalledBuild) wait(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the stopped build exited 0")
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the build did not stop")
	}
	ents, _ := os.ReadDir(b.out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "keep.txt" {
		t.Errorf("output directory after the build was stopped: %v, want only keep.txt", names)
	}
}

// SIGINT (Ctrl-C), SIGTERM and SIGHUP (a dropped ssh session) stop a
// build midway with nothing left in the output directory.
func TestBuildStoppedBySignalLeavesNothing(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(signalName(sig), func(t *testing.T) {
			b := newStalledBuild(t)
			logf, _ := os.Create(filepath.Join(t.TempDir(), "stderr"))
			defer logf.Close()
			cmd := b.start(t, logf)
			cmd.Process.Signal(sig)
			b.wait(t, cmd)
			log, _ := os.ReadFile(logf.Name())
			if !bytes.HasSuffix(log, []byte("kiln: interrupted by "+signalName(sig)+"\n")) {
				t.Errorf("stderr does not end saying the build was interrupted:\n%s", log)
			}
		})
	}
}

// `kiln build ... 2>&1 | head -3`: the reader goes away and the next
// progress line meets a broken pipe (SIGPIPE). The build stops and
// cleans up instead of dying on the spot.
func TestBuildStoppedByBrokenPipeLeavesNothing(t *testing.T) {
	b := newStalledBuild(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := b.start(t, w)
	w.Close()
	r.Close()
	b.release <- http.StatusNotFound // the failed download is reported on the closed pipe
	b.wait(t, cmd)
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGPIPE) {
		t.Errorf("exit %v, want 141 (128+SIGPIPE) after the cleanup, as a shell reports a broken pipe", cmd.ProcessState)
	}
}
