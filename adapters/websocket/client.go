package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [ClientOptions].
const (
	DefaultMinBackoff      = 250 * time.Millisecond
	DefaultMaxBackoff      = 30 * time.Second
	DefaultClientReadLimit = 1 << 20
)

// ClientOptions configures a [Client]. The zero value means defaults.
type ClientOptions struct {
	// HTTPClient makes the handshakes; nil means http.DefaultClient's
	// transport without a timeout.
	HTTPClient *http.Client
	// Header is added to every handshake (Origin, Authorization...).
	Header http.Header
	// Subprotocols lists the subprotocols to ask for. With
	// [FormatEnvelope], [BatchSubprotocol] is asked for after them, and
	// its batches are split into their events.
	Subprotocols []string
	// Cursor is the resume cursor of the first connection; empty starts
	// with live events. Later connections resume after the last ID seen.
	Cursor string
	// Format is how the server frames events; 0 means [FormatEnvelope].
	// With the raw formats every message is an event with data only.
	Format Format
	// ReadLimit bounds an inbound message in bytes; 0 means
	// [DefaultClientReadLimit].
	ReadLimit int64
	// MinBackoff and MaxBackoff bound the delay before a reconnection: it
	// starts at MinBackoff, doubles with each failed attempt up to
	// MaxBackoff, is jittered to [d/2, d), and is never shorter than a
	// refusal's Retry-After. Defaults: [DefaultMinBackoff],
	// [DefaultMaxBackoff].
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts ends the observable with an error after that many
	// consecutive failed connection attempts; 0 means never.
	MaxAttempts int
	// Logger receives a line per reconnection; nil means slog.Default().
	Logger *slog.Logger
}

// CloseError is a close frame's status code and reason: the error of a
// [Client] whose connection the server closed with a status that
// reconnecting will not fix (1003, 1007, 1008, 1010), and what the reason
// of [Hooks.Closed] wraps when the peer closed the connection (see
// [ErrClientGone]). Match it with errors.As and a CloseError value.
type CloseError = websocket.CloseError

// Client follows a WebSocket endpoint of this package: it reconnects with
// exponential backoff and jitter, resumes after the last event ID it saw
// (the cursor query parameter, or the cursor a hub topic's close reason
// carries, see [ReasonCursor]), and sends messages on the current
// connection.
//
// All methods may be called concurrently.
type Client struct {
	url  *url.URL
	opts ClientOptions

	mu    sync.Mutex
	conn  *websocket.Conn // the newest open connection
	ready chan struct{}   // closed when conn is set
}

// NewClient returns a Client for the endpoint at rawURL (ws, wss, http or
// https); opts may be nil.
func NewClient(rawURL string, opts *ClientOptions) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rxstream: websocket: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("rxstream: websocket: URL scheme %q is not ws, wss, http or https", u.Scheme)
	}
	c := &Client{url: u, ready: make(chan struct{})}
	if opts != nil {
		c.opts = *opts
	}
	o := &c.opts
	if o.MinBackoff < 0 || o.MaxBackoff < 0 || o.MaxAttempts < 0 || o.ReadLimit < 0 {
		return nil, errors.New("rxstream: websocket: negative backoff, MaxAttempts or ReadLimit")
	}
	if o.Format < 0 || o.Format > FormatBinary {
		return nil, errors.New("rxstream: websocket: unknown Format")
	}
	if o.Format == 0 {
		o.Format = FormatEnvelope
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.ReadLimit == 0 {
		o.ReadLimit = DefaultClientReadLimit
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return c, nil
}

// Events returns an observable of the endpoint's messages: a
// [framework.Event] item per event, a [framework.Gap] item per gap notice.
// Each Observe opens its own connection and follows the endpoint until the
// observer's context (given with rxgo.WithContext) ends, then closes the
// connection with 1000. It completes when the server closes with 1000 (the
// stream completed), and ends with an error item on a [*StatusError] (a
// handshake refused with a 4xx status other than 408 and 429), a
// terminal [CloseError], or after MaxAttempts failed attempts.
func (c *Client) Events() rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		r := run{c: c, lastID: c.opts.Cursor, next: next}
		if err := r.loop(ctx); err != nil && ctx.Err() == nil {
			rxgo.Error(err).SendContext(ctx, next)
		}
	}})
}

// Send writes one message on the newest connection of an observation of
// [Client.Events], waiting for one while none is open. A message sent while
// a connection breaks may be lost: Send returns the write's error, and the
// caller may send again. ctx bounds the wait and the write; a write whose
// ctx ends closes the connection (which then reconnects).
func (c *Client) Send(ctx context.Context, typ MessageType, p []byte) error {
	for {
		c.mu.Lock()
		conn, ready := c.conn, c.ready
		c.mu.Unlock()
		if conn != nil {
			return conn.Write(ctx, typ, p)
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Client) setConn(conn *websocket.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = conn
	close(c.ready)
	c.ready = make(chan struct{})
}

func (c *Client) clearConn(conn *websocket.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		c.conn = nil
	}
}

// run is the state of one observation: the cursor that survives
// reconnections.
type run struct {
	c      *Client
	lastID string
	retry  time.Duration
	next   chan<- rxgo.Item
}

var (
	errCompleted = errors.New("rxstream: websocket: stream completed")
	errStopped   = errors.New("rxstream: websocket: observer stopped")
)

func (r *run) loop(ctx context.Context) error {
	failures := 0
	for {
		got, err := r.connect(ctx)
		if ctx.Err() != nil || errors.Is(err, errCompleted) || errors.Is(err, errStopped) {
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) {
			return err
		}
		switch websocket.CloseStatus(err) {
		case websocket.StatusUnsupportedData, websocket.StatusInvalidFramePayloadData,
			websocket.StatusPolicyViolation, websocket.StatusMandatoryExtension:
			return err
		}
		if got {
			failures = 0
		}
		failures++
		if r.c.opts.MaxAttempts > 0 && failures > r.c.opts.MaxAttempts {
			return fmt.Errorf("rxstream: websocket: %d attempts failed, last: %w", failures-1, err)
		}
		d := r.backoff(failures)
		r.c.opts.Logger.Info("rxstream: websocket: reconnecting", "url", r.c.url.Redacted(), "in", d, "cursor", r.lastID, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// backoff is the delay before the n-th consecutive attempt (n >= 1).
func (r *run) backoff(n int) time.Duration {
	return transport.Backoff(n, r.c.opts.MinBackoff, r.c.opts.MaxBackoff, r.retry)
}

// endpoint is the URL of the next connection: the cursor as a query
// parameter, since browsers cannot send headers on a WebSocket handshake.
func (r *run) endpoint() string {
	u := *r.c.url
	if r.lastID != "" {
		q := u.Query()
		q.Del("lastEventId")
		q.Set("cursor", r.lastID)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// connect reads one connection until it ends. got reports whether it
// delivered anything (so the backoff starts over).
func (r *run) connect(ctx context.Context) (got bool, err error) {
	conn, err := r.dial(ctx, r.endpoint())
	if err != nil {
		return false, err
	}
	// The observer's end closes the connection with a handshake; the read
	// below then returns.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
	defer func() {
		if !stop() {
			<-closed
		}
		_ = conn.CloseNow()
	}()
	r.c.setConn(conn)
	defer r.c.clearConn(conn)
	for {
		typ, data, err := conn.Read(context.Background())
		if ctx.Err() != nil {
			return got, errStopped
		}
		if err != nil {
			var ce CloseError
			if errors.As(err, &ce) {
				if ce.Code == websocket.StatusNormalClosure {
					return got, errCompleted
				}
				if c := ReasonCursor(ce.Reason); c != "" {
					r.lastID = c
				}
			}
			return got, err
		}
		got = true
		for _, m := range batch(conn, typ, data) {
			if !r.decode(typ, m).SendContext(ctx, r.next) {
				return got, errStopped
			}
		}
	}
}

// dial opens a connection to rawURL with the client's options; a refused
// handshake is a [*StatusError] or, when retrying may help, the
// refusal's error. A connection that opens resets the Retry-After hint.
func (r *run) dial(ctx context.Context, rawURL string) (*websocket.Conn, error) {
	o := &r.c.opts
	protocols := o.Subprotocols
	if o.Format == FormatEnvelope {
		protocols = append(protocols[:len(protocols):len(protocols)], BatchSubprotocol)
	}
	conn, resp, err := websocket.Dial(ctx, rawURL, &websocket.DialOptions{
		HTTPClient:   o.HTTPClient,
		HTTPHeader:   o.Header,
		Subprotocols: protocols,
	})
	if err != nil {
		if resp == nil {
			return nil, err
		}
		return nil, r.refused(resp, err)
	}
	conn.SetReadLimit(o.ReadLimit)
	r.retry = 0
	return conn, nil
}

// refused is the error of a handshake the server answered with resp: a
// [*StatusError] for a status that retrying will not fix, else err, the
// Retry-After kept as the next backoff's floor.
func (r *run) refused(resp *http.Response, err error) error {
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	if code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout {
		if d := transport.ParseRetryAfter(resp.Header.Get("Retry-After")); d > 0 {
			r.retry = d
		}
		return err
	}
	return transport.ReadStatus(resp)
}

// batch splits a message of a batch (a JSON array of envelopes, under
// BatchSubprotocol) into its envelopes; any other message is one.
func batch(conn *websocket.Conn, typ MessageType, data []byte) [][]byte {
	if typ != MessageText || len(data) == 0 || data[0] != '[' || conn.Subprotocol() != BatchSubprotocol {
		return [][]byte{data}
	}
	var raw []json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return [][]byte{data}
	}
	out := make([][]byte, len(raw))
	for i, m := range raw {
		out[i] = m
	}
	return out
}

// decode turns a message into an item and moves the cursor.
func (r *run) decode(typ MessageType, data []byte) rxgo.Item {
	if r.c.opts.Format != FormatEnvelope || typ != MessageText {
		return rxgo.Of(framework.Event{Data: data})
	}
	var env transport.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return rxgo.Of(framework.Event{Data: data}) // not an envelope: the raw text
	}
	ev, err := env.ToEvent()
	if err != nil {
		return rxgo.Of(framework.Event{Data: data})
	}
	if ev.ID != "" {
		r.lastID = ev.ID
	}
	if ev.Name == "gap" {
		var g framework.Gap
		if json.Unmarshal(ev.Data, &g) == nil {
			return rxgo.Of(g)
		}
	}
	return rxgo.Of(ev)
}
