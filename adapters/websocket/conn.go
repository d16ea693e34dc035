package websocket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"
	"golang.org/x/sync/errgroup"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// ErrInboundObserved is the error item of a [Handler]'s inbound observable
// when it is observed a second time.
var ErrInboundObserved = errors.New("rxstream: websocket: inbound messages observed twice")

// Errors that end a connection from the server's side, reported to
// [Hooks.Error].
var (
	errPongTimeout = errors.New("rxstream: websocket: no pong before the timeout")
	errPeerGone    = errors.New("rxstream: websocket: peer closed the connection")
)

// conn is one connection being served. It lives in the handler's goroutine,
// which runs the write loop; the read loop and the pings run in goroutines
// of an errgroup the handler waits for.
type conn struct {
	opts    Options
	c       *Conn
	ctx     context.Context // the registry's: ended by Server.Close
	release func()

	ws    *websocket.Conn
	nc    net.Conn   // the hijacked connection, closed when a close stalls
	batch *batchConn // what ws writes to: a batch of messages in one write
	buf   []byte     // the write loop's encoding buffer
	one   []byte     // an envelope that did not fit a batch's message
	// batches offers BatchSubprotocol at the upgrade (a hub topic's
	// envelopes); batched is set when the client took it.
	batches, batched bool

	// pk is set once the connection is parked (see park.go): its frames
	// go to pk instead of ws.
	pk *parked
	// stopReq, for a connection that may be parked, stops the request's
	// context from ending ctx (see Server.prepare).
	stopReq func() bool

	in       chan Message // inbound messages for a Handler; nil otherwise
	ctl      chan control // control messages of a hub topic or a producer; nil otherwise
	mux      bool         // a multiplexed session: every control message is served
	pass     *transport.Pass
	req      *http.Request // the request the guard is asked with: the latest refresh's
	wake     chan struct{} // signalled when revoked holds topics
	revMu    sync.Mutex
	revoked  []string      // topics revoked from a multiplexed session, not dropped yet
	inDone   chan struct{} // closed when the read loop ends
	readErr  error         // why it ended; read after inDone is closed
	observed atomic.Bool   // in was observed
	reading  atomic.Bool   // the read loop waits on the Handler's pipeline or the write loop
	pinging  atomic.Bool   // a ping is in flight

	// cursor, for a hub topic, returns the ID to resume from; the close
	// reason carries it.
	cursor func() string
}

// prepare checks what can be checked before anything else runs: the
// method, that the request is an upgrade, its origin, and the server not
// shutting down; it answers a request that fails them and returns false.
// Otherwise it registers the connection, which the caller releases, and
// returns r with the connection's context. hub is set for a hub topic's
// connection, whose envelopes may go in batches (see conn.subprotocols).
//
// The context of a connection that may be parked does not end with the
// request's, which ends when the handler returns: the request's context
// ends it only until it is parked (see conn.stopReq). It keeps the
// request's values, for the guard of refresh messages.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request, hub, parking bool) (*conn, *http.Request, bool) {
	opts := s.options()
	if err := opts.check(r); err != nil {
		transport.WriteError(w, err, 0)
		return nil, nil, false
	}
	batches := hub && opts.Format == FormatEnvelope
	r, pass, err := transport.Enter(s.Gate(), r)
	if err != nil {
		(&conn{opts: opts, batches: batches}).limited(w, r, err)
		return nil, nil, false
	}
	parent, stopReq := r.Context(), func() bool { return true }
	if parking {
		var cancel context.CancelFunc
		parent, cancel = context.WithCancel(context.WithoutCancel(r.Context()))
		stopReq = context.AfterFunc(r.Context(), cancel)
	}
	ctx, done, ok := s.conns.Open(parent)
	if !ok {
		stopReq()
		pass.Release()
		transport.WriteError(w, ErrShutdown, transport.DefaultRetryAfter)
		return nil, nil, false
	}
	s.served.Add(1)
	release := func() {
		stopReq()
		done()
		pass.Release()
		s.served.Add(-1)
	}
	return &conn{opts: opts, batches: batches, ctx: ctx, release: release, stopReq: stopReq, inDone: make(chan struct{}), pass: pass}, r.WithContext(ctx), true
}

// admit asks the Gate to admit the connection once the hook allowed it
// for topics, or answers the request: 401 when the hook's answer already
// expired; over a limit as [conn.limited] does. It binds the connection's
// context to the pass: its expiry and revocation end the connection.
func (cn *conn) admit(w http.ResponseWriter, r *http.Request, topics []string) bool {
	if err := cn.pass.Admit(topics); err != nil {
		cn.limited(w, r, err)
		return false
	}
	cn.ctx = cn.pass.Bind(cn.ctx)
	cn.req = r
	return true
}

// limitClose is how long the close of a connection refused over a limit
// waits for the peer's close frame.
const limitClose = time.Second

// limited answers a request the Gate refused. Over the connect rate it is
// answered 429 with a Retry-After before anything is spent on it; over a
// connection limit it is upgraded and closed at once, with 1013 (the
// address's connections) or 1008 (the user's) and a reason that says when
// to try again, so that a browser, which cannot read the status of a
// refused handshake, can. Any other refusal is answered as it is.
func (cn *conn) limited(w http.ResponseWriter, r *http.Request, err error) {
	var le *transport.LimitError
	if !errors.As(err, &le) || le.Limit == transport.LimitRate {
		transport.WriteError(w, err, 0)
		return
	}
	code := StatusTryAgainLater
	if le.Limit == transport.LimitUser {
		code = StatusPolicyViolation
	}
	uw := &upgradeWriter{ResponseWriter: w}
	ws, aerr := websocket.Accept(uw, r, &websocket.AcceptOptions{
		Subprotocols:       cn.subprotocols(),
		InsecureSkipVerify: cn.opts.InsecureSkipVerify,
		OriginPatterns:     cn.opts.OriginPatterns,
	})
	if aerr != nil {
		return
	}
	t := time.AfterFunc(min(cn.opts.CloseTimeout, limitClose), func() { _ = uw.conn.Close() })
	defer t.Stop()
	secs := int((le.RetryAfter + time.Second - 1) / time.Second)
	_ = ws.Close(code, closeReason("retry in "+strconv.Itoa(secs)+"s; "+le.Error()))
}

// requestCursor reads the cursor of a producer's request and asks the
// guard (if any) about it, or answers the request: 400 for a bad cursor,
// the guard's refusal as it is.
func requestCursor(w http.ResponseWriter, r *http.Request) (string, bool) {
	cursor, err := transport.RequestCursor(r, framework.MaxCursorLen)
	if err == nil {
		err = transport.Allow(r) // a producer's stream names no topic: the guard is asked with ""
	}
	if err != nil {
		transport.WriteError(w, err, 0)
		return "", false
	}
	return cursor, true
}

// refused answers the request, and returns true, when a Producer or
// Handler refused it or made no observable: a *StatusError with its
// status, any other error 500 without its text, which is logged.
func (cn *conn) refused(w http.ResponseWriter, obs rxgo.Observable, err error) bool {
	if err == nil && obs == nil {
		err = errors.New("rxstream: websocket: the producer or handler returned no observable")
	}
	if err == nil {
		return false
	}
	var se *StatusError
	if !errors.As(err, &se) {
		cn.opts.Logger.Warn("rxstream: websocket: request failed", "err", err)
		se = &StatusError{Code: http.StatusInternalServerError, Err: err}
	}
	transport.WriteError(w, se, 0)
	return true
}

// open describes the connection for the hooks, once its request is
// accepted.
func (cn *conn) open(r *http.Request, cursor string, topics []string) {
	cn.c = transport.NewConn("websocket", r, cursor, topics)
	cn.c.User = cn.pass.User()
}

// subprotocols lists what the upgrade negotiates: [Options.Subprotocols],
// then BatchSubprotocol for a connection that batches. A refusal over a
// limit offers the same as a served upgrade: a browser fails a handshake
// that asked for a subprotocol and got none (close 1006, without the
// code and reason of the refusal), and the browser client always asks for
// BatchSubprotocol.
func (cn *conn) subprotocols() []string {
	protocols := cn.opts.Subprotocols
	if cn.batches {
		protocols = append(protocols[:len(protocols):len(protocols)], BatchSubprotocol)
	}
	return protocols
}

// accept upgrades the connection. On failure websocket.Accept has answered
// the request; after a success nothing may write to w.
func (cn *conn) accept(w http.ResponseWriter, r *http.Request) bool {
	uw := &upgradeWriter{ResponseWriter: w, timeout: cn.opts.WriteTimeout}
	o := &websocket.AcceptOptions{
		Subprotocols:       cn.subprotocols(),
		InsecureSkipVerify: cn.opts.InsecureSkipVerify,
		OriginPatterns:     cn.opts.OriginPatterns,
	}
	// The handshake runs on a goroutine of its own, the handler's waiting
	// for it: its deepest call, net/http writing the 101's headers as
	// coder/websocket hijacks (chunkWriter.writeHeader's 2.8 KB frame and
	// a sort of the headers), reaches past an 8 KiB stack behind a few
	// middleware frames, and the handler's goroutine then kept a 16 KiB
	// stack for the connection's life, which the runtime does not shrink
	// while a quarter of it is in use. The short-lived goroutine's stack
	// goes when it ends. Benchmarks idle, 3 repetitions: 37.7 -> 33.7 KiB
	// per connection, stacks 20.0 -> 12.1 KiB (bare coder/websocket 33.8
	// and 12.0).
	var ws *websocket.Conn
	var err error
	transport.Aside(func() { ws, err = websocket.Accept(uw, r, o) })
	if err != nil {
		cn.opts.Logger.Debug("rxstream: websocket: upgrade refused", "err", err, "remote", cn.c.RemoteAddr)
		return false
	}
	cn.ws, cn.nc, cn.batch = ws, uw.conn, uw.batch
	cn.batched = cn.batches && ws.Subprotocol() == BatchSubprotocol
	ws.SetReadLimit(cn.opts.ReadLimit)
	cn.c.Subprotocol = ws.Subprotocol()
	return true
}

// writer is a write loop: it sends until the stream ends and returns why
// (the server then closes the connection with the frame closeFrame makes
// of it), or drop, an error for which the connection is dropped without a
// closing handshake. Both nil mean that ctx ended.
type writer func(ctx context.Context, g *errgroup.Group) (why, drop error)

// serve runs the connection to its end: the read loop in a goroutine, the
// write loop here, then the close and the hooks. Both loops end together:
// the first to end cancels the other's context (and the close unblocks a
// read in progress).
func (cn *conn) serve(write writer) {
	cn.opts.Hooks.Open(cn.c)
	g, ctx := errgroup.WithContext(cn.ctx)
	g.Go(func() error { return cn.readLoop(ctx) })
	why, drop := write(ctx, g)
	if drop == nil && (why == nil || cn.readFailed()) {
		// Stopped by its context, or completed because the inbound
		// messages did, as the read loop failed: the cause decides.
		why, drop = cn.ended(ctx)
	}
	if drop != nil {
		_ = cn.ws.CloseNow()
	} else {
		cn.close(cn.closeFrame(why))
	}
	var ce websocket.CloseError
	if rerr := g.Wait(); drop != nil && errors.As(rerr, &ce) {
		drop = rerr // a write failed because the peer had closed
	}
	if drop != nil {
		why = gone(drop)
	}
	cn.finish(why)
}

// closeFrame is the close frame the server sends for why, a hub topic's
// reason led by the cursor to resume from.
func (cn *conn) closeFrame(why error) (StatusCode, string) {
	code, text := closeFrame(why)
	if cn.cursor != nil && code != StatusNormalClosure {
		text = reasonWithCursor(cn.cursor(), text)
	}
	return code, text
}

// ended is why a write loop stopped by its context ended: the server
// shutting down (or the request's context ending), an oversized inbound
// message, or, as drop, the error that ended the read loop or a ping.
func (cn *conn) ended(ctx context.Context) (why, drop error) {
	if cn.ctx.Err() != nil {
		return cn.ctxEnded(), nil
	}
	cause := context.Cause(ctx)
	if cn.readFailed() {
		cause = cn.readErr
	}
	if cause == nil || errors.Is(cause, context.Canceled) {
		cause = errPeerGone
	}
	if errors.Is(cause, websocket.ErrMessageTooBig) {
		// The close frame is sent; the handshake discards the rest of
		// the message, so that the peer reads the close frame and no
		// reset.
		return &endError{code: StatusMessageTooBig, text: "message too big", err: cause}, nil
	}
	return nil, cause
}

// ctxEnded is why the connection's context ended: the server shutting
// down (or the request's context ending), or its authorization.
func (cn *conn) ctxEnded() error {
	if transport.ShuttingDown(cn.ctx) {
		return ErrShutdown
	}
	if err := transport.AuthEnded(cn.ctx); err != nil {
		return err // ErrExpired, ErrRevoked
	}
	return &endError{code: StatusGoingAway, text: "server shutting down", err: context.Cause(cn.ctx)}
}

// close performs the closing handshake with code and reason, bounded by
// CloseTimeout: past it, the connection is closed under the handshake.
func (cn *conn) close(code StatusCode, reason string) {
	t := time.AfterFunc(cn.opts.CloseTimeout, func() { _ = cn.nc.Close() })
	defer t.Stop()
	_ = cn.ws.Close(code, closeReason(reason))
}

// finish reports how the connection ended to the log and the hooks:
// Error for an end that is a failure (an error, an overflow, a message
// too big, a peer gone without a closing handshake), then Closed.
func (cn *conn) finish(why error) {
	code := CloseCode(why)
	var e *endError
	switch {
	case code == StatusNormalClosure || code == StatusGoingAway || code == StatusExpired || code == StatusRevoked:
	case errors.As(why, &e) && e.closed():
		// The peer closed: its code is its own business.
	case errors.As(why, &e):
		cn.opts.Hooks.Fail(cn.c, e.err)
	default:
		cn.opts.Hooks.Fail(cn.c, why)
	}
	remote := errors.As(why, &e) && e.gone
	switch { // 1001 at shutdown is no news, nor the end of an authorization
	case code == StatusInternalError && !remote:
		cn.opts.Logger.Warn("rxstream: websocket: stream failed", "id", cn.c.ID, "err", why)
	case code != StatusNormalClosure && code != StatusGoingAway && code != StatusExpired && code != StatusRevoked:
		cn.opts.Logger.Debug("rxstream: websocket: connection ended", "id", cn.c.ID, "code", int(code), "reason", why, "remote", remote)
	}
	cn.opts.Hooks.Close(cn.c, why)
}

// readLoop reads until the connection ends; it is the goroutine that
// answers pings and reads pongs and the peer's close frame. It reads
// without a context (a cancelled read context would close the connection
// mid-handshake): closing the connection ends it.
func (cn *conn) readLoop(ctx context.Context) error {
	defer close(cn.inDone)
	for {
		typ, data, err := cn.ws.Read(context.Background())
		if err != nil {
			cn.readErr = err // before inDone closes, and before the group sees it
			return err
		}
		m := Message{Type: typ, Data: data}
		if h := cn.opts.OnMessage; h != nil {
			h(cn.c, m)
		}
		switch {
		case cn.in != nil:
			cn.reading.Store(true)
			select {
			case cn.in <- m:
			case <-ctx.Done():
				return nil
			}
		case cn.ctl != nil:
			r := parseControl(data)
			if !cn.mux && !r.refresh {
				break // only a multiplexed connection takes other control messages
			}
			cn.reading.Store(true)
			select {
			case cn.ctl <- r:
			case <-ctx.Done():
				return nil
			}
		}
		cn.reading.Store(false)
	}
}

// readFailed reports whether the read loop has ended with an error
// (readErr).
func (cn *conn) readFailed() bool {
	select {
	case <-cn.inDone:
		return cn.readErr != nil
	default:
		return false
	}
}

// inbound returns the observable of the inbound messages for a Handler.
func (cn *conn) inbound() rxgo.Observable {
	cn.in = make(chan Message, cn.opts.InboundQueue)
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		if !cn.observed.CompareAndSwap(false, true) {
			rxgo.Error(ErrInboundObserved).SendContext(ctx, next)
			return
		}
		for {
			select {
			case m := <-cn.in:
				if !rxgo.Of(m).SendContext(ctx, next) {
					return
				}
				continue
			case <-ctx.Done():
				return
			case <-cn.inDone:
			}
			// The read loop ended: deliver what it queued, then complete.
			for {
				select {
				case m := <-cn.in:
					if !rxgo.Of(m).SendContext(ctx, next) {
						return
					}
				default:
					return
				}
			}
		}
	}})
}

// ping starts a ping unless one is in flight or the read loop, which reads
// the pong, waits on the Handler's pipeline (or on the write loop, for a
// control message). A ping without pong within
// PongTimeout ends the connection.
func (cn *conn) ping(ctx context.Context, g *errgroup.Group) {
	if cn.reading.Load() || !cn.pinging.CompareAndSwap(false, true) {
		return
	}
	g.Go(func() error {
		defer cn.pinging.Store(false)
		pctx, cancel := context.WithTimeout(ctx, cn.opts.PongTimeout)
		defer cancel()
		err := cn.ws.Ping(pctx)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !cn.reading.Load() {
			return errPongTimeout
		}
		return nil
	})
}

// send writes one message, under the write deadline the connection's
// batchConn keeps.
func (cn *conn) send(typ MessageType, p []byte) error {
	if cn.pk != nil {
		cn.pk.frame(byte(typ), p)
		return nil
	}
	return cn.ws.Write(context.Background(), typ, p)
}
