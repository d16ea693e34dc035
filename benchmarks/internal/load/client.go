package load

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// Counters are what a group of clients counts, read at any time.
type Counters struct {
	Connects   atomic.Int64 // connections opened
	Errors     atomic.Int64 // failed dials, handshakes, bad statuses, broken reads
	Reconnects atomic.Int64 // streams that ended before the run and were opened again
	Requests   atomic.Int64 // HTTP requests sent (polls)

	firstErr atomic.Pointer[string]
}

// FirstError returns the first error recorded, or "".
func (c *Counters) FirstError() string {
	if p := c.firstErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *Counters) fail(err error) {
	c.Errors.Add(1)
	s := err.Error()
	c.firstErr.CompareAndSwap(nil, &s)
}

// Options tune a client.
type Options struct {
	// PollInterval is the short-poll's delay between polls.
	PollInterval time.Duration
	// Once makes a client give up when its stream ends, instead of
	// reconnecting with its last cursor.
	Once bool
}

// Client subscribes to GET /sub on addr and feeds s until ctx ends,
// reconnecting (with the last cursor it saw) when the stream ends early.
type Client func(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, o Options)

// ClientFor returns the client of a transport.
func ClientFor(t servers.Transport) Client {
	switch t {
	case servers.SSE:
		return SSE
	case servers.LongPoll:
		return LongPoll
	case servers.ShortPoll:
		return ShortPoll
	case servers.WebSocket:
		return WebSocket
	}
	panic(fmt.Sprintf("load: no client for %v", t))
}

// ended reports whether ctx is done or past its deadline: a dial that hit
// the deadline may return before ctx itself reports it.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// retryPause is the wait before a reconnection.
const retryPause = 20 * time.Millisecond

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
