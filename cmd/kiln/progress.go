package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kiln-build/kiln/builder/rpm/fetch"
	"github.com/kiln-build/kiln/builder/rpm/repo"
	"golang.org/x/term"
)

// progress prints a line per build stage with its time and, on a terminal,
// a live download line; it is quiet when quiet is set (-o json).
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool

	mu       sync.Mutex
	total    map[*repo.Package]int64
	done     map[*repo.Package]int64
	finished int
	cached   int
	count    int
	last     time.Time
}

func newProgress(w io.Writer, quiet bool) *progress {
	tty := false
	if f, ok := fileOf(w); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, quiet: quiet}
}

func (p *progress) StageStart(name string) {
	if !p.quiet {
		fmt.Fprintf(p.w, "==> %s\n", name)
	}
}

func (p *progress) StageDone(name string, d time.Duration) {
	if !p.quiet {
		fmt.Fprintf(p.w, "    %s done in %s\n", name, d.Round(10*time.Millisecond))
	}
}

// Fetch returns the download reporter; count is set by the caller.
func (p *progress) Fetch() fetch.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.done = map[*repo.Package]int64{}, map[*repo.Package]int64{}
	p.finished, p.cached = 0, 0
	return p
}

func (p *progress) Update(pkg *repo.Package, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[pkg], p.total[pkg] = done, total
	p.draw(false)
}

func (p *progress) Finish(pkg *repo.Package, cached bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	if cached {
		p.cached++
	}
	if err != nil && !p.quiet {
		p.clear()
		fmt.Fprintf(p.w, "    %s: %v\n", pkg.NEVRA(), err)
	}
	p.draw(p.finished == p.count)
}

func (p *progress) clear() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// draw redraws the download line at most ten times a second.
func (p *progress) draw(final bool) {
	if p.quiet || !p.tty || (!final && time.Since(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = time.Now()
	var done, total int64
	for k, t := range p.total {
		done += p.done[k]
		total += t
	}
	fmt.Fprintf(p.w, "\r\033[K    %d/%d packages (%d cached), %.1f/%.1f MiB", p.finished, p.count, p.cached, float64(done)/(1<<20), float64(total)/(1<<20))
	if final {
		fmt.Fprintln(p.w)
	}
}
