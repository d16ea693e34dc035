package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters/internal/park"
	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// A parked connection ([Options.Park]) is a hub topics' connection
// that the server upgrades itself: it answers the RFC 6455
// handshake on the hijacked connection, without coder/websocket, and
// hands the socket to the server's park loop (adapters/internal/park),
// which watches it for reads and hang-ups with one poller for all of
// them, and runs the connection on a shared writer when something is due:
// its topic's news, a frame from the client, a ping, its context ending.
// Frames are read with frameReader and written whole with appendFrame; an
// idle parked connection holds no buffer and no goroutine. What it sends
// and how it ends are those of a connection on the handler's goroutine
// (the same session, encoders, close frames and hooks); the differences
// are in [Options.Park].

// parkable reports whether the connection of r to hub topics can be
// parked once upgraded: a server with Park, on
// Linux, HTTP/1.1 without TLS over TCP, a request context without a
// deadline (a parked connection no longer sees it), and a version 13
// handshake with a valid key (any other is answered by today's path, as
// before).
func (s *Server) parkable(r *http.Request, o session.Options) bool {
	if !s.opts.Park || !park.Request(r) || !r.ProtoAtLeast(1, 1) {
		return false
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return false
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0]))
	return err == nil && len(key) == 16
}

// loop returns the server's park loop, made with its options on first
// use: a beat once a connection has written nothing for PingInterval.
func (s *Server) loop() *park.Loop {
	s.loopOnce.Do(func() {
		o := s.options()
		s.parkLoop = &park.Loop{Heartbeat: max(o.PingInterval, 0), WriteTimeout: max(o.WriteTimeout, 0)}
	})
	return s.parkLoop
}

// parked is a connection held by the server's park loop: its
// [park.Task]. Its fields are used by one goroutine at a time: the
// handler's until the hand-off, then the loop's.
type parked struct {
	cn      *conn
	sess    *session.Session
	c       *park.Conn
	rd      frameReader
	in      []byte      // what net/http had read past the request: read first
	more    bool        // the last run stopped reading before the socket was empty
	out     []byte      // the frames of a run, written at its end; nil between runs
	stopCtx func() bool // stops the wake at the context's end

	greet    bool        // a multiplexed session's URL topics are still to be acknowledged
	pings    uint64      // the pings sent; the last one's payload is its number
	pingAt   time.Time   // when the unanswered ping was sent; zero: none
	lastPing time.Time   // when the last ping was sent
	pongT    *time.Timer // wakes the connection PongTimeout after a ping

	closing bool        // the close frame is sent: waiting for the peer's
	closeBy time.Time   // the end of the closing handshake
	closeT  *time.Timer // wakes the connection then
	why     error       // why it ended, for the hooks
	done    bool        // it ended: the socket closes once what it wrote is written
}

// hand upgrades the connection itself and parks it. It reports false
// when the connection could not be hijacked, with w still able to answer
// it (today's path then serves it), or when it was hijacked but the
// poller cannot watch it: then w is a writer over the hijacked
// connection, through which today's path upgrades it.
func (pk *parked) hand(w http.ResponseWriter, r *http.Request) (bool, http.ResponseWriter) {
	cn := pk.cn
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false, w
	}
	if !park.Watchable(nc) {
		return false, &hijacked{nc: nc, brw: brw, h: w.Header()}
	}
	sub := selectSubprotocol(r, cn.subprotocols())
	h := w.Header() // what middleware set goes out with the 101, as net/http sends it
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", acceptKey(strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))))
	if sub != "" {
		h.Set("Sec-WebSocket-Protocol", sub)
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.WriteSubset(&b, map[string]bool{"Content-Length": true, "Transfer-Encoding": true})
	b.WriteString("\r\n")
	if cn.opts.WriteTimeout > 0 {
		_ = nc.SetWriteDeadline(time.Now().Add(cn.opts.WriteTimeout))
	}
	_, err = nc.Write(b.Bytes())
	_ = nc.SetWriteDeadline(time.Time{})
	if err != nil {
		// As an Accept that fails after its hijack: never opened.
		cn.opts.Logger.Debug("rxstream: websocket: upgrade refused", "err", err, "remote", cn.c.RemoteAddr)
		_ = nc.Close()
		pk.sess.Close()
		cn.release()
		return true, nil
	}
	if n := brw.Reader.Buffered(); n > 0 {
		p, _ := brw.Reader.Peek(n)
		pk.in = bytes.Clone(p)
	}
	cn.stopReq() // the request's context ends with the handler; the poller now says when the client leaves
	cn.pk = pk
	cn.batched = cn.batches && sub == BatchSubprotocol
	cn.c.Subprotocol = sub
	if cn.mux {
		pk.greet = true
		cn.wake = make(chan struct{}, 1)
		cn.pass.OnTopic(func(topic string) {
			cn.topicRevoked(topic)
			pk.c.Wake()
		})
	} else {
		cn.cursor = pk.sess.Cursor // a composite is no use to a client: see Server.Topics
	}
	cn.buf, cn.one = nil, nil
	pk.rd.limit = cn.opts.ReadLimit
	pk.lastPing = time.Now()
	cn.opts.Hooks.Open(cn.c)
	pk.stopCtx = context.AfterFunc(cn.ctx, pk.c.Wake)
	pk.c.WatchReads()
	pk.c.Wake() // the first run takes what the session holds, and reads what came with the request
	if err := pk.c.Park(nc); err != nil {
		// Cannot happen where parkable said yes, but for a poller the
		// system refuses (out of descriptors): drop the connection.
		pk.stopCtx()
		_ = nc.Close()
		cn.finish(gone(err))
		pk.sess.Close()
		cn.release()
	}
	return true, nil
}

// errUnwatched ends a parked connection whose socket the system refused
// to watch: its pings and close frames would go unseen.
var errUnwatched = errors.New("rxstream: websocket: the poller cannot watch the connection")

// errEnded stops the reading of frames: the connection ended.
var errEnded = errors.New("rxstream: websocket: connection ended")

// runBufs are the buffers of one run of a parked connection: taken for
// the run and given back after it, so that an idle one holds none.
type runBufs struct {
	out, enc []byte
	in       [4 << 10]byte
}

var bufPool = sync.Pool{New: func() any { return new(runBufs) }}

// maxReads bounds the reads of one run (of len(runBufs.in) each): a
// client that sends fast takes its turn with the others.
const maxReads = 16

// Run implements [park.Task].
func (pk *parked) Run(c *park.Conn, why park.Why) {
	cn := pk.cn
	if pk.done { // what the end wrote is written
		c.Close()
		return
	}
	bufs := bufPool.Get().(*runBufs)
	pk.out, cn.buf = bufs.out[:0], bufs.enc[:0]
	defer func() {
		bufs.out, bufs.enc = transport.Idle(pk.out), transport.Idle(cn.buf)
		pk.out, cn.buf, cn.one = nil, nil, nil
		bufPool.Put(bufs)
	}()
	pk.run(c, why, bufs.in[:])
	switch {
	case pk.done:
		if len(pk.out) > 0 {
			_ = c.Write(pk.out)
		}
		if !c.Blocked() {
			c.Close()
		}
	case len(pk.out) > 0:
		if err := c.Write(pk.out); err != nil {
			pk.drop(err)
			c.Close()
		}
	}
}

// run does what is due; its frames are left in pk.out.
func (pk *parked) run(c *park.Conn, why park.Why, in []byte) {
	cn := pk.cn
	if why&park.HungUp != 0 { // a write of what the socket had not taken failed
		err := c.Err()
		if err == nil {
			err = errPeerGone
		}
		pk.drop(err)
		return
	}
	if pk.closing {
		if !time.Now().Before(pk.closeBy) {
			pk.end() // no close frame from the peer in time: closed under the handshake
			return
		}
		pk.read(c, in)
		return
	}
	if !c.Watched() {
		pk.closeWith(&endError{code: StatusTryAgainLater, text: "try again later", err: errUnwatched})
		return
	}
	if pk.greet { // before any answer or event
		pk.greet = false
		names, pos := pk.sess.Topics()
		for i, name := range names {
			_ = cn.answer(answer{typ: typeSubscribed, topic: name, cursor: pos[i]})
		}
	}
	if why&park.Readable != 0 || pk.more || pk.in != nil {
		if !pk.read(c, in) || pk.closing {
			return // ended, or closing: nothing follows its close frame
		}
	}
	if cn.ctx.Err() != nil {
		pk.closeWith(cn.ctxEnded())
		return
	}
	select {
	case <-cn.wake: // nil on a single topic's connection
		_ = cn.dropRevoked(pk.sess)
	default:
	}
	if !pk.pingAt.IsZero() && time.Since(pk.pingAt) >= cn.opts.PongTimeout {
		pk.drop(errPongTimeout)
		return
	}
	for {
		b, err := pk.sess.Take(cn.ctx, cn.opts.MaxBatch)
		if len(b.Items) > 0 {
			_ = cn.writeItems(cn.mux, b.Items) // frames into pk.out: written at the end of the run
		}
		if err != nil {
			pk.closeWith(sessionEnded(err))
			return
		}
		if len(b.Items) == 0 {
			break
		}
		if c.Blocked() || len(b.Items) == cn.opts.MaxBatch {
			c.Wake() // more after the others' turn, or once it drained
			return
		}
	}
	if cn.opts.PingInterval > 0 && (why&park.Beat != 0 || time.Since(pk.lastPing) >= cn.opts.PingInterval) {
		pk.ping()
	}
}

// read reads what the socket holds and serves its frames; it reports
// false once the connection ended.
func (pk *parked) read(c *park.Conn, buf []byte) bool {
	if pk.in != nil {
		p := pk.in
		pk.in = nil
		if !pk.feed(p) {
			return false
		}
	}
	for range maxReads {
		n, err := c.Read(buf)
		if n > 0 && !pk.feed(buf[:n]) {
			return false
		}
		switch {
		case err != nil && pk.closing:
			pk.end() // the peer closed the connection after the server's close frame
			return false
		case err != nil:
			pk.drop(fmt.Errorf("failed to read frame: %w", err)) // gone without a closing handshake
			return false
		case n == 0:
			pk.more = false
			return true
		}
	}
	pk.more = true // the socket may hold more: the poller says nothing until it changes
	c.Wake()
	return true
}

// feed serves the frames of p; it reports false once the connection
// ended.
func (pk *parked) feed(p []byte) bool {
	for len(p) > 0 && !pk.done {
		n, err := pk.rd.feed(p, pk.frameIn)
		p = p[n:]
		var pe protocolError
		switch {
		case err == nil, errors.Is(err, errEnded):
		case errors.Is(err, websocket.ErrMessageTooBig):
			if !pk.closing {
				// The close frame is sent; the reader drops the rest of
				// the message, so that the peer's close frame is read.
				pk.closeWith(&endError{code: StatusMessageTooBig, text: "message too big", err: fmt.Errorf("read limited at %d bytes: %w", pk.rd.limit, err)})
			}
		case errors.As(err, &pe):
			// As coder/websocket: a close frame with 1002, and the
			// connection dropped.
			pk.out = appendClose(pk.out, websocket.StatusProtocolError, err.Error())
			pk.drop(err)
		default:
			pk.drop(err)
		}
	}
	return !pk.done
}

// frameIn serves one control frame or data message of the client.
func (pk *parked) frameIn(op byte, data []byte) error {
	cn := pk.cn
	switch op {
	case opPing:
		if !pk.closing {
			pk.out = appendFrame(pk.out, opPong, data)
		}
	case opPong:
		if !pk.pingAt.IsZero() && string(data) == strconv.FormatUint(pk.pings, 10) {
			pk.pingAt = time.Time{}
			pk.pongT.Stop()
		}
	case opClose:
		ce, err := parseClose(data)
		if err != nil {
			return err
		}
		if pk.closing {
			pk.end() // the closing handshake is done
			return errEnded
		}
		// The peer closes first: its close frame is echoed, as
		// coder/websocket does, and the connection is done.
		if ce.Code == websocket.StatusNoStatusRcvd {
			pk.out = appendFrame(pk.out, opClose, nil)
		} else {
			pk.out = appendClose(pk.out, ce.Code, ce.Reason)
		}
		pk.why = gone(fmt.Errorf("received close frame: %w", ce))
		pk.end()
		return errEnded
	default:
		if pk.closing {
			return nil
		}
		typ := MessageText
		if op == opBinary {
			typ = MessageBinary
		}
		if h := cn.opts.OnMessage; h != nil {
			h(cn.c, Message{Type: typ, Data: data})
		}
		m := parseControl(data)
		if !cn.mux && !m.refresh {
			return nil // a single topic's connection takes only refresh messages
		}
		err := cn.control(pk.sess, m)
		var cw *closeWith
		switch {
		case errors.As(err, &cw):
			pk.closeWith(cw.why)
		case err != nil:
			pk.drop(err)
			return errEnded
		}
	}
	return nil
}

// frame adds a data frame of the connection's own to the run's writes.
func (pk *parked) frame(op byte, p []byte) { pk.out = appendFrame(pk.out, op, p) }

// ping sends a ping unless one is in flight; its pong is due within
// PongTimeout.
func (pk *parked) ping() {
	if !pk.pingAt.IsZero() {
		return
	}
	pk.pings++
	var p [20]byte
	pk.out = appendFrame(pk.out, opPing, strconv.AppendUint(p[:0], pk.pings, 10))
	pk.pingAt = time.Now()
	pk.lastPing = pk.pingAt
	if pk.pongT == nil {
		pk.pongT = time.AfterFunc(pk.cn.opts.PongTimeout, pk.c.Wake)
	} else {
		pk.pongT.Reset(pk.cn.opts.PongTimeout)
	}
}

// closeWith starts the closing handshake for why: the close frame is
// sent, and the connection waits at most CloseTimeout for the peer's.
func (pk *parked) closeWith(why error) {
	code, reason := pk.cn.closeFrame(why)
	pk.out = appendClose(pk.out, code, reason)
	pk.closing, pk.why = true, why
	pk.stopTimers()
	pk.closeBy = time.Now().Add(pk.cn.opts.CloseTimeout)
	pk.closeT = time.AfterFunc(pk.cn.opts.CloseTimeout, pk.c.Wake)
}

// drop ends the connection without a closing handshake: the peer is gone
// (err says how), or sent what it must not.
func (pk *parked) drop(err error) {
	if pk.why == nil || !pk.closing {
		pk.why = gone(err)
	}
	pk.end()
}

// end ends the connection: the hooks are told, the session and the
// registry entry let go, and the socket closes once what the run wrote is
// written.
func (pk *parked) end() {
	if pk.done {
		return
	}
	pk.done = true
	pk.stopTimers()
	if pk.closeT != nil {
		pk.closeT.Stop()
	}
	pk.cn.finish(pk.why)
	pk.sess.Close()
	pk.cn.release()
}

func (pk *parked) stopTimers() {
	if pk.stopCtx != nil {
		pk.stopCtx()
	}
	if pk.pongT != nil {
		pk.pongT.Stop()
	}
}

// selectSubprotocol picks the first of the server's subprotocols that the
// client offers, in the client's spelling, as coder/websocket does.
func selectSubprotocol(r *http.Request, protocols []string) string {
	var offered []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for t := range strings.SplitSeq(v, ",") {
			offered = append(offered, strings.TrimSpace(t))
		}
	}
	for _, sp := range protocols {
		for _, cp := range offered {
			if strings.EqualFold(sp, cp) {
				return cp
			}
		}
	}
	return ""
}

// acceptKey is the Sec-WebSocket-Accept of key (RFC 6455, 4.2.2).
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// hijacked is a connection hijacked for parking that the poller cannot
// watch, as a response writer: today's path upgrades it through it (its
// 101 and any refusal are written to the connection).
type hijacked struct {
	nc    net.Conn
	brw   *bufio.ReadWriter
	h     http.Header
	wrote bool
}

func (w *hijacked) Header() http.Header { return w.h }

func (w *hijacked) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	fmt.Fprintf(w.brw.Writer, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	if code != http.StatusSwitchingProtocols {
		w.h.Set("Connection", "close")
	}
	_ = w.h.WriteSubset(w.brw.Writer, map[string]bool{"Transfer-Encoding": true})
	_, _ = w.brw.Writer.WriteString("\r\n")
	_ = w.brw.Writer.Flush()
}

func (w *hijacked) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	n, err := w.brw.Writer.Write(p)
	if err == nil {
		err = w.brw.Writer.Flush()
	}
	return n, err
}

func (w *hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.nc, w.brw, nil }
