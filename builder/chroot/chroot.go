// Package chroot runs a command inside a directory tree with the API
// filesystems it expects (/proc, /sys, /dev, /run, a tmpfs /tmp) and,
// optionally, other host directories bound in. The mounts are made in a
// private mount namespace that belongs to one locked OS thread, so they
// disappear with the command: nothing leaks onto the host's mount table,
// even when kiln is killed.
//
// It needs root (CAP_SYS_ADMIN and CAP_SYS_CHROOT).
//
//	err := chroot.Run(ctx, chroot.Spec{Root: tools, Binds: []chroot.Bind{{Host: image, Target: "/run/kiln/image"}}},
//		[]string{"rpm", "--root", "/run/kiln/image", "-i", "/run/kiln/pkgs/bash.rpm"}, os.Stdout, os.Stderr)
package chroot

import (
	"context"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/builder/treepath"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Bind makes a host directory visible inside the tree, or mounts a
// private API filesystem there.
type Bind struct {
	Host     string // directory on the host; unused for Proc and Dev
	Target   string // absolute path inside the tree; created if missing
	ReadOnly bool
	Type     MountType
}

// MountType says what a Bind mounts.
type MountType int

// Mount types: a bind of a host directory, a new proc instance, or a
// private /dev (a tmpfs with only null, zero, full, random, urandom, tty
// and ptmx), so nothing in the tree can change the host's devices.
const (
	BindMount MountType = iota
	Proc
	Dev
)

// Spec describes the tree a command runs in.
type Spec struct {
	Root  string
	Binds []Bind
	// Env is the command's whole environment; nil means a minimal one
	// (PATH, HOME=/root, LANG=C.UTF-8).
	Env []string
	// Dir is the working directory inside the tree (default "/").
	Dir string
}

// ErrNotRoot is returned when kiln lacks the privileges chroot needs.
var ErrNotRoot = errors.New("kiln must run as root to install packages into an image (it chroots and mounts /proc, /sys and /dev for rpm and its scriptlets)")

// DefaultEnv is the environment commands get when Spec.Env is nil.
var DefaultEnv = []string{
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
	"SYSTEMD_OFFLINE=1",
}

// Run runs argv inside spec.Root and waits for it. Its output goes to
// stdout and stderr (nil discards).
func Run(ctx context.Context, spec Spec, argv []string, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if len(argv) == 0 {
		return errors.New("chroot: empty command")
	}
	root, err := filepath.Abs(spec.Root)
	if err != nil {
		return err
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return fmt.Errorf("chroot: %s is not a directory", root)
	}
	// The namespace belongs to this thread only; the goroutine never
	// unlocks it, so Go retires the thread (and with it the namespace and
	// its mounts) when the goroutine ends.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- runInNamespace(ctx, root, spec, argv, stdout, stderr)
	}()
	return <-errc
}

func runInNamespace(ctx context.Context, root string, spec Spec, argv []string, stdout, stderr io.Writer) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		if errors.Is(err, unix.EPERM) {
			return ErrNotRoot
		}
		return fmt.Errorf("chroot: new mount namespace: %w", err)
	}
	// Keep our mounts from propagating back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("chroot: making mounts private: %w", err)
	}
	type mnt struct {
		src, target, fstype string
		flags               uintptr
		data                string
	}
	mounts := []mnt{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"/sys", "/sys", "", unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, ""},
		{"kiln-dev", "/dev", "tmpfs", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}
	for _, b := range spec.Binds {
		switch b.Type {
		case Proc:
			mounts = append(mounts, mnt{"proc", b.Target, "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""})
		case Dev:
			mounts = append(mounts, mnt{"kiln-dev", b.Target, "tmpfs", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0755"})
		default:
			mounts = append(mounts, mnt{b.Host, b.Target, "", unix.MS_BIND | unix.MS_REC, ""})
			if b.ReadOnly {
				mounts = append(mounts, mnt{"", b.Target, "", unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY, ""})
			}
		}
	}
	// The namespace normally dies with this thread, but Go keeps the
	// process's main thread alive if the goroutine happened to run there,
	// so unmount explicitly too.
	var mounted []string
	defer func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			unix.Unmount(mounted[i], unix.MNT_DETACH)
		}
	}()
	for _, m := range mounts {
		target, err := treepath.Confine(root, m.target)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("chroot: creating %s: %w", m.target, err)
		}
		if err := unix.Mount(m.src, target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("chroot: mounting %s on %s: %w", m.src, m.target, err)
		}
		if m.flags&unix.MS_REMOUNT == 0 {
			mounted = append(mounted, target)
		}
		if m.src == "kiln-dev" {
			if err := populateDev(target); err != nil {
				return err
			}
		}
	}
	env := spec.Env
	if env == nil {
		env = DefaultEnv
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// exec.Command resolves argv[0] on the host's PATH; inside the tree it
	// must be resolved against the tree.
	if !strings.Contains(argv[0], "/") {
		p, err := lookPath(root, argv[0], env)
		if err != nil {
			return err
		}
		cmd.Path = p
		cmd.Err = nil
	} else {
		cmd.Path = argv[0]
	}
	cmd.Env = env
	cmd.Dir = dir
	// The error carries the end of stderr, whoever else reads it.
	tail := &tailBuffer{max: 2048}
	if stderr == nil {
		stderr = io.Discard
	}
	if stdout == nil {
		stdout = io.Discard
	}
	// exec.Cmd copies stdout and stderr in two goroutines; a caller's
	// writer (often the same buffer for both) gets one Write at a time.
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, stdout}, lockedWriter{&mu, io.MultiWriter(stderr, tail)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if t := strings.TrimSpace(string(tail.buf)); t != "" {
			return fmt.Errorf("%s (in %s): %w: %s", strings.Join(argv, " "), root, err, t)
		}
		return fmt.Errorf("%s (in %s): %w", strings.Join(argv, " "), root, err)
	}
	return nil
}

// lockedWriter serializes writes to w with the mutex it shares with
// another lockedWriter.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// lookPath finds a command in the tree's PATH directories.
func lookPath(root, name string, env []string) (string, error) {
	path := "/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		host, err := treepath.Confine(root, p)
		if err != nil {
			continue
		}
		if st, err := os.Stat(host); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s (PATH=%s)", name, root, path)
}

// populateDev fills a private /dev with the nodes programs and rpm
// scriptlets expect.
func populateDev(dir string) error {
	for _, n := range []struct {
		name         string
		major, minor uint32
		mode         uint32
	}{
		{"null", 1, 3, 0o666}, {"zero", 1, 5, 0o666}, {"full", 1, 7, 0o666},
		{"random", 1, 8, 0o666}, {"urandom", 1, 9, 0o666}, {"tty", 5, 0, 0o666}, {"ptmx", 5, 2, 0o666},
	} {
		p := filepath.Join(dir, n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("chroot: creating /dev/%s: %w", n.name, err)
		}
		if err := unix.Chmod(p, n.mode); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(dir, "shm"), 0o1777)
	for l, t := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(t, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	return nil
}
