package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [ClientOptions].
const (
	DefaultMinBackoff  = 250 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultIdleTimeout = 45 * time.Second
)

// ClientOptions configures a [Client]. The zero value means defaults.
type ClientOptions struct {
	// HTTPClient makes the requests; nil means a client without a timeout
	// (a stream lasts as long as it lasts).
	HTTPClient *http.Client
	// Header is added to every request.
	Header http.Header
	// Cursor is the cursor of the first connection, sent as its
	// Last-Event-ID (later ones send the last event ID seen); empty
	// starts with live events.
	Cursor string
	// MinBackoff and MaxBackoff bound the delay before a reconnection: it
	// starts at MinBackoff, doubles with each failed attempt up to
	// MaxBackoff, is jittered to [d/2, d), and is never shorter than the
	// server's retry hint (as a browser waits it). Defaults:
	// [DefaultMinBackoff], [DefaultMaxBackoff].
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout drops a connection on which nothing (no event, no
	// heartbeat) arrived for that long, and reconnects; 0 means
	// [DefaultIdleTimeout], negative never. Keep it above the server's
	// heartbeat interval.
	IdleTimeout time.Duration
	// MaxAttempts ends the observable with an error after that many
	// consecutive failed connection attempts; 0 means never.
	MaxAttempts int
	// Logger receives a line per reconnection; nil means slog.Default().
	Logger *slog.Logger
}

// Client reads an SSE endpoint the way a browser's EventSource does, and
// better: it resends the last event ID on every reconnection, backs off
// exponentially with jitter (honouring the server's retry hint), drops a
// connection that went silent, and stops when its context ends.
type Client struct {
	url  string
	opts ClientOptions
}

// NewClient returns a Client for the endpoint at rawURL; opts may be nil.
func NewClient(rawURL string, opts *ClientOptions) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rxstream: sse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("rxstream: sse: URL scheme %q is not http or https", u.Scheme)
	}
	c := &Client{url: rawURL}
	if opts != nil {
		c.opts = *opts
	}
	o := &c.opts
	if o.MinBackoff < 0 || o.MaxBackoff < 0 || o.MaxAttempts < 0 {
		return nil, errors.New("rxstream: sse: negative backoff or MaxAttempts")
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return c, nil
}

// Events returns an observable of the stream: a [framework.Event] item per
// event, a [framework.Gap] item per gap notice. Each Observe opens its own
// connection and follows the stream until the observer's context (given
// with rxgo.WithContext) ends; it completes when the server answers 204 No
// Content, and ends with an error item after MaxAttempts failed attempts,
// or holding a [*StatusError] (see errors.As) for an answer that
// reconnecting will not fix: a 4xx other than 408 and 429, a redirect
// the HTTPClient did not follow, or a 200 that is not text/event-stream.
// A 5xx, 408 or 429 is retried, no sooner than its Retry-After.
func (c *Client) Events() rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		r := run{c: c, lastID: c.opts.Cursor, next: next}
		if err := r.loop(ctx); err != nil && ctx.Err() == nil {
			rxgo.Error(err).SendContext(ctx, next)
		}
	}})
}

// run is the state of one observation: the cursor and retry hint that
// survive reconnections.
type run struct {
	c      *Client
	lastID string
	retry  time.Duration
	next   chan<- rxgo.Item
}

func (r *run) loop(ctx context.Context) error {
	retry := r.c.retry()
	for {
		got, err := r.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var se *StatusError
		switch {
		case errors.As(err, &se):
			return err
		case errors.Is(err, errNoContent):
			return nil
		case errors.Is(err, errStopped):
			return nil
		}
		if got {
			retry.Reset()
		}
		d, gaveUp := retry.Failed(err, r.retry)
		if gaveUp != nil {
			return gaveUp
		}
		r.c.opts.Logger.Info("rxstream: sse: reconnecting", "url", r.c.url, "in", d, "cursor", r.lastID, "err", err)
		if !transport.Sleep(ctx, d) {
			return nil
		}
	}
}

func (c *Client) retry() transport.Retry {
	return transport.Retry{Name: "sse", Min: c.opts.MinBackoff, Max: c.opts.MaxBackoff, MaxAttempts: c.opts.MaxAttempts}
}

// backoff is the delay before the n-th consecutive attempt (n >= 1).
func (r *run) backoff(n int) time.Duration {
	return transport.Backoff(n, r.c.opts.MinBackoff, r.c.opts.MaxBackoff, r.retry)
}

var (
	errNoContent = errors.New("rxstream: sse: server answered 204 No Content")
	errStopped   = errors.New("rxstream: sse: observer stopped")
)

// connect reads one connection until it ends. got reports whether it
// delivered anything (so the backoff starts over).
func (r *run) connect(parent context.Context) (got bool, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	dec, closeBody, err := r.c.open(ctx, cancel, r.c.url, r.lastID, &r.retry)
	if err != nil {
		return false, err
	}
	defer closeBody()
	for {
		ev, err := dec.Next()
		if d := dec.Retry(); d > 0 {
			r.retry = d
		}
		if id := dec.LastEventID(); id != "" {
			r.lastID = id // also set by a block without data (a tip)
		}
		if err != nil {
			return got, streamEnded(err)
		}
		got = true
		item := rxgo.Of(ev)
		if ev.Name == "gap" {
			var g framework.Gap
			if json.Unmarshal(ev.Data, &g) == nil {
				item = rxgo.Of(g)
			}
		}
		// Send under the observer's context, not the connection's: the
		// watchdog may drop the connection while a slow observer holds
		// this item, which must not end the observable.
		if !item.SendContext(parent, r.next) {
			return got, errStopped
		}
	}
}

// streamEnded is the error of a stream whose decoder returned err: the
// server ending it is a reason to reconnect too.
func streamEnded(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// open requests the stream at rawURL after lastID and returns its decoder
// and the function that releases the response. A failed answer raises
// *retry to the server's Retry-After. cancel ends ctx, the connection's
// context: the idle watchdog calls it.
func (c *Client) open(ctx context.Context, cancel func(), rawURL, lastID string, retry *time.Duration) (*Decoder, func(), error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range c.opts.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusNoContent:
		resp.Body.Close()
		return nil, nil, errNoContent
	case resp.StatusCode == http.StatusOK && ct == "text/event-stream":
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		*retry = max(*retry, transport.ParseRetryAfter(resp.Header.Get("Retry-After")))
		resp.Body.Close()
		return nil, nil, fmt.Errorf("rxstream: sse: server answered %d", resp.StatusCode)
	case resp.StatusCode == http.StatusOK:
		se := transport.ReadStatus(resp)
		resp.Body.Close()
		return nil, nil, fmt.Errorf("rxstream: sse: Content-Type %q is not text/event-stream: %w", resp.Header.Get("Content-Type"), se)
	default:
		se := transport.ReadStatus(resp)
		resp.Body.Close()
		return nil, nil, se
	}
	var body io.Reader = resp.Body
	release := func() { resp.Body.Close() }
	if c.opts.IdleTimeout > 0 {
		w := newWatchdog(c.opts.IdleTimeout, cancel)
		body = w.reader(resp.Body)
		release = func() {
			w.stop()
			resp.Body.Close()
		}
	}
	return NewDecoder(body), release, nil
}

// watchdog cancels a connection on which nothing was read for a while.
type watchdog struct {
	mu    sync.Mutex
	timer *time.Timer
	idle  time.Duration
}

func newWatchdog(idle time.Duration, cancel func()) *watchdog {
	return &watchdog{idle: idle, timer: time.AfterFunc(idle, cancel)}
}

func (w *watchdog) reader(r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		if n > 0 {
			w.mu.Lock()
			w.timer.Reset(w.idle)
			w.mu.Unlock()
		}
		return n, err
	})
}

func (w *watchdog) stop() { w.timer.Stop() }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
