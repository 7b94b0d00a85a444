package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/firstboot/config"
)

// step is one unit of the plan, recorded in the state when done.
type step struct {
	name  string
	phase config.Phase
	msg   string
	do    func(ctx context.Context) error
	// attempts bounds the tries; 0 means Limits.Attempts.
	attempts int
	// onRetry runs after a failed attempt, before the pause (kubeadm
	// reset -f after a failed join).
	onRetry func(ctx context.Context) error
	// hint tells a person what to do when the step gives up.
	hint string
}

// permanentError is a failure that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// runStep runs s until it succeeds, its attempts run out or it fails for
// good, recording it as started (before the first attempt) and done.
func (a *Agent) runStep(ctx context.Context, s step) error {
	st := a.state.step(s.name)
	if st.Started.IsZero() || !st.Done.IsZero() {
		st.Started = a.clock.Now().UTC()
	}
	if err := a.save(); err != nil {
		return err
	}
	attempts := s.attempts
	if attempts <= 0 {
		attempts = a.lim.Attempts
	}
	var err error
	for i := 1; i <= attempts; i++ {
		st.Attempts++
		if err = a.save(); err != nil {
			return err
		}
		if err = s.do(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var p permanentError
		if errors.As(err, &p) || i == attempts {
			break
		}
		a.log.Warn("step failed, retrying", "step", s.name, "attempt", i, "of", attempts, "error", err)
		if s.onRetry != nil {
			if rerr := s.onRetry(ctx); rerr != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				a.log.Warn("cleaning up after a failed attempt", "step", s.name, "error", rerr)
			}
		}
		pause := a.backoff(i)
		a.report(ctx, s.phase, fmt.Sprintf("%s: attempt %d of %d failed, next in %s: %v", s.name, i, attempts, pause.Round(time.Second), err), "")
		if serr := a.clock.Sleep(ctx, pause); serr != nil {
			return serr
		}
	}
	if err != nil {
		hint := s.hint
		if hint == "" {
			hint = "see `journalctl -u kiln-firstboot`; fix the cause and reboot, or run `systemctl restart kiln-firstboot`"
		}
		return &Failure{Step: s.name, Err: err, Hint: hint}
	}
	st.Done = a.clock.Now().UTC()
	return a.save()
}

// backoff is the pause after the i-th failed attempt: Backoff doubled per
// attempt up to MaxBackoff, times a random factor in [0.5, 1.5) so that
// nodes failing together do not retry together.
func (a *Agent) backoff(i int) time.Duration {
	d := a.lim.Backoff
	for ; i > 1 && d < a.lim.MaxBackoff; i-- {
		d *= 2
	}
	d = min(d, a.lim.MaxBackoff)
	return time.Duration(float64(d) * (0.5 + a.opts.Rand()))
}

// waitFor checks until check passes or bound has passed, pausing Poll
// (with jitter) between checks. A dry run checks once and goes on.
func (a *Agent) waitFor(ctx context.Context, what string, bound time.Duration, check func(ctx context.Context) error) error {
	deadline := a.clock.Now().Add(bound)
	for n := 1; ; n++ {
		err := check(ctx)
		if err == nil || a.opts.DryRun {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !a.clock.Now().Before(deadline) {
			return permanent(fmt.Errorf("%s: not after %s: %w", what, bound, err))
		}
		if n == 1 || n%12 == 0 {
			a.log.Info("waiting", "for", what, "last", err)
		}
		if err := a.clock.Sleep(ctx, time.Duration(float64(a.lim.Poll)*(0.5+a.opts.Rand()))); err != nil {
			return err
		}
	}
}
