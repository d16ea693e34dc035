package websocket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"
	"golang.org/x/sync/errgroup"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// ErrInboundObserved is the error item of a [Handler]'s inbound observable
// when it is observed a second time.
var ErrInboundObserved = errors.New("rxstream: websocket: inbound messages observed twice")

// Errors that end a connection from the server's side, reported to
// [Hooks.TransportError].
var (
	errPongTimeout = errors.New("rxstream: websocket: no pong before the timeout")
	errPeerGone    = errors.New("rxstream: websocket: peer closed the connection")
)

// conn is one connection being served. It lives in the handler's goroutine,
// which runs the write loop; the read loop and the pings run in goroutines
// of an errgroup the handler waits for.
type conn struct {
	s       *Server
	opts    Options
	sess    *Session
	ctx     context.Context // the registry's: ended by Server.Close
	release func()

	ws  *websocket.Conn
	nc  net.Conn // the hijacked connection, for write deadlines
	buf []byte   // the write loop's encoding buffer

	in       chan Message  // inbound messages for a Handler; nil otherwise
	ctl      chan control  // control messages of a multiplexed session; nil otherwise
	inDone   chan struct{} // closed when the read loop ends
	readErr  error         // why it ended; read after inDone is closed
	observed atomic.Bool   // in was observed
	reading  atomic.Bool   // the read loop waits on the Handler's pipeline or the write loop
	pinging  atomic.Bool   // a ping is in flight

	// cursor, for a hub topic, returns the ID to resume from; the close
	// reason carries it.
	cursor func() string
}

// prepare checks what can be checked before the upgrade (that it is one,
// the origin, the server not shutting down) and registers the connection.
// The request's context becomes the connection's.
func (s *Server) prepare(c echo.Context, cursor string) (*conn, error) {
	r := c.Request()
	if !isUpgrade(r) {
		c.Response().Header().Set("Connection", "Upgrade")
		c.Response().Header().Set("Upgrade", "websocket")
		return nil, echo.NewHTTPError(http.StatusUpgradeRequired, errNotUpgrade.Error())
	}
	opts := s.options()
	if err := opts.checkOrigin(r); err != nil {
		return nil, echo.NewHTTPError(http.StatusForbidden, err.Error())
	}
	ctx, release, ok := s.conns.Open(r.Context())
	if !ok {
		return nil, transport.Refuse(transport.ErrShutdown, transport.DefaultRetryAfter).HTTPError(c)
	}
	c.SetRequest(r.WithContext(ctx))
	return &conn{
		s:       s,
		opts:    opts,
		ctx:     ctx,
		release: release,
		sess: &Session{
			ID:         strconv.FormatUint(s.ids.Add(1), 10),
			RemoteAddr: r.RemoteAddr,
			URL:        r.URL,
			Header:     r.Header,
			Cursor:     cursor,
		},
		inDone: make(chan struct{}),
	}, nil
}

// accept upgrades the connection. On failure websocket.Accept has answered
// the request; the handler returns nil, as it must after a hijack too.
func (cn *conn) accept(c echo.Context) bool {
	w := &upgradeWriter{ResponseWriter: c.Response(), res: c.Response()}
	ws, err := websocket.Accept(w, c.Request(), &websocket.AcceptOptions{
		Subprotocols:       cn.opts.Subprotocols,
		InsecureSkipVerify: cn.opts.InsecureSkipVerify,
		OriginPatterns:     cn.opts.OriginPatterns,
	})
	if err != nil {
		cn.opts.Logger.Debug("rxstream: websocket: upgrade refused", "err", err, "remote", cn.sess.RemoteAddr)
		return false
	}
	cn.ws, cn.nc = ws, w.conn
	ws.SetReadLimit(cn.opts.ReadLimit)
	cn.sess.Subprotocol = ws.Subprotocol()
	return true
}

// writer is a write loop: it sends until the stream ends and returns the
// status to close with, or an error when the connection must be dropped
// without a closing handshake.
type writer func(ctx context.Context, g *errgroup.Group) (CloseStatus, error)

// serve runs the connection to its end: the read loop in a goroutine, the
// write loop here, then the close and the hooks. Both loops end together:
// the first to end cancels the other's context (and the close unblocks a
// read in progress).
func (cn *conn) serve(write writer) {
	if h := cn.opts.Hooks.Established; h != nil {
		h(cn.sess)
	}
	g, ctx := errgroup.WithContext(cn.ctx)
	g.Go(func() error { return cn.readLoop(ctx) })
	st, werr := write(ctx, g)
	if werr == nil && (st.Code == 0 || cn.readFailed()) {
		// Stopped by its context, or completed because the inbound
		// messages did, as the read loop failed: the cause decides.
		st, werr = cn.ended(ctx)
	}
	if werr != nil {
		_ = cn.ws.CloseNow()
	} else {
		if cn.cursor != nil && st.Code != StatusNormalClosure {
			st.Reason = reasonWithCursor(cn.cursor(), st.Reason)
		}
		st.Reason = closeReason(st.Reason)
		cn.close(st)
	}
	var ce websocket.CloseError
	if rerr := g.Wait(); werr != nil && errors.As(rerr, &ce) {
		werr = rerr // a write failed because the peer had closed
	}
	cn.finish(st, werr)
}

// ended is the status of a write loop stopped by its context: the server
// shutting down (or the request's context ending), an oversized inbound
// message, or the error that ended the read loop or a ping.
func (cn *conn) ended(ctx context.Context) (CloseStatus, error) {
	if cn.ctx.Err() != nil {
		return CloseStatus{Code: StatusGoingAway, Reason: "server shutting down"}, nil
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
		cn.transportError(cause)
		return CloseStatus{Code: StatusMessageTooBig, Reason: "message too big"}, nil
	}
	return CloseStatus{}, cause
}

// close performs the closing handshake with st, bounded by CloseTimeout:
// past it, the connection is closed under the handshake.
func (cn *conn) close(st CloseStatus) {
	t := time.AfterFunc(cn.opts.CloseTimeout, func() { _ = cn.nc.Close() })
	defer t.Stop()
	_ = cn.ws.Close(st.Code, closeReason(st.Reason))
}

// finish reports how the connection ended: what the server sent, else what
// the peer sent if it closed first, else an abnormal closure.
func (cn *conn) finish(st CloseStatus, werr error) {
	var ce websocket.CloseError
	switch {
	case werr == nil:
	case errors.As(werr, &ce):
		st = CloseStatus{Code: ce.Code, Reason: ce.Reason, Remote: true}
	default:
		st = CloseStatus{Code: StatusAbnormalClosure, Reason: werr.Error()}
		cn.transportError(werr)
	}
	switch {
	case st.Code == StatusInternalError:
		cn.opts.Logger.Warn("rxstream: websocket: stream failed", "id", cn.sess.ID, "reason", st.Reason)
	case st.Code != StatusNormalClosure && st.Code != StatusGoingAway:
		cn.opts.Logger.Debug("rxstream: websocket: connection ended", "id", cn.sess.ID, "code", int(st.Code), "reason", st.Reason, "remote", st.Remote)
	}
	if h := cn.opts.Hooks.Closed; h != nil {
		h(cn.sess, st)
	}
}

func (cn *conn) transportError(err error) {
	if h := cn.opts.Hooks.TransportError; h != nil {
		h(cn.sess, err)
	}
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
		if h := cn.opts.Hooks.Message; h != nil {
			h(cn.sess, m)
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

// send writes one message under the write deadline.
func (cn *conn) send(typ MessageType, p []byte) error {
	if cn.opts.WriteTimeout > 0 {
		_ = cn.nc.SetWriteDeadline(time.Now().Add(cn.opts.WriteTimeout))
		defer cn.nc.SetWriteDeadline(time.Time{})
	}
	return cn.ws.Write(context.Background(), typ, p)
}
