package transport

import (
	"context"
	"fmt"
	"time"
)

// Retry counts the consecutive failures of a client's connections or polls
// and says how long to wait before the next attempt ([Backoff]).
type Retry struct {
	Name        string // of the transport, for messages
	Min, Max    time.Duration
	MaxAttempts int // 0 means never give up
	failures    int
}

// Reset starts the count over, after an attempt that delivered something.
func (r *Retry) Reset() { r.failures = 0 }

// Failed counts a failure of err and returns the delay before the next
// attempt, never shorter than hint; or an error when MaxAttempts
// consecutive failures were already counted.
func (r *Retry) Failed(err error, hint time.Duration) (time.Duration, error) {
	r.failures++
	if r.MaxAttempts > 0 && r.failures > r.MaxAttempts {
		return 0, fmt.Errorf("rxstream: %s: %d attempts failed, last: %w", r.Name, r.failures-1, err)
	}
	return Backoff(r.failures, r.Min, r.Max, hint), nil
}

// Sleep waits d, or until ctx ends: it then returns false.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
