package config

import (
	"fmt"
	"time"
)

// Durations parses the three timings; call it on a validated config.
func (l LeaderElection) Durations() (lease, renew, retry time.Duration, err error) {
	for _, f := range []struct {
		name string
		v    string
		d    *time.Duration
	}{{"leaseDuration", l.LeaseDuration, &lease}, {"renewDeadline", l.RenewDeadline, &renew}, {"retryPeriod", l.RetryPeriod, &retry}} {
		if *f.d, err = time.ParseDuration(f.v); err != nil || *f.d <= 0 {
			return 0, 0, 0, fmt.Errorf("%s: %q is not a positive duration (e.g. 137s)", f.name, f.v)
		}
	}
	switch {
	case lease <= renew:
		return 0, 0, 0, fmt.Errorf("leaseDuration: %s must be longer than renewDeadline %s", lease, renew)
	case float64(renew) <= 1.2*float64(retry): // client-go's jitter factor
		return 0, 0, 0, fmt.Errorf("renewDeadline: %s must be longer than 1.2 × retryPeriod %s", renew, retry)
	}
	return lease, renew, retry, nil
}
