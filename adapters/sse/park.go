package sse

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/rxstream/rxstream/adapters/internal/park"
	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// parkable reports whether the hub-backed stream of r can be parked once
// idle (see [Options.DisableParking]): HTTP/1.x without TLS over TCP, a
// response writer that can be hijacked, and a request context without a
// deadline, which a parked stream would no longer see.
func (s *Server) parkable(w http.ResponseWriter, r *http.Request) bool {
	return !s.opts.DisableParking && park.Request(r) && transport.CanHijack(w)
}

// loop returns the server's park loop, made with its options on first use.
func (s *Server) loop() *park.Loop {
	s.loopOnce.Do(func() {
		o := s.options()
		s.parkLoop = &park.Loop{Heartbeat: max(o.Heartbeat, 0), WriteTimeout: max(o.WriteTimeout, 0)}
	})
	return s.parkLoop
}

// parked is a hub-backed stream held by the server's park loop: its
// [park.Task]. Its fields are used by one goroutine at a time: the
// handler's until the hand-off, then the loop's.
type parked struct {
	st      *stream
	sess    *session.Session
	release func() // what the handler's defers would have done: the stream's registry entry, the session, the pass
	c       *park.Conn
	chunked bool        // the body is chunked (HTTP/1.1), not ended by the close (HTTP/1.0)
	stopCtx func() bool // stops the wake at the context's end
	ending  bool        // the final writes are done: close once they are written
}

// bufs are the write buffers of parked streams: one is taken for a run and
// given back after it, so an idle parked stream holds none.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// hand takes the connection over from net/http once the stream is idle
// and parks it; it reports false, with the stream still the handler's,
// when it cannot. The request's context is the stream's until then:
// afterwards the poller says when the client leaves.
func (pk *parked) hand(stopReq func() bool) bool {
	st := pk.st
	if st.w.Header().Get("Content-Encoding") != "" {
		return false // a middleware compresses the body (echo's Gzip): it must see every write
	}
	nc, _, err := st.rc.Hijack() // flushes what net/http holds; its buffers are dropped
	if err != nil {
		return false
	}
	stopReq()
	st.w, st.rc = nil, nil
	if h := st.opts.Hooks; h.Opened == nil && h.Error == nil && h.Closed == nil {
		st.conn = nil // no hook will be told: let the request's URL and headers go
	}
	st.pk = pk
	st.buf = nil
	pk.stopCtx = context.AfterFunc(st.ctx, pk.c.Wake)
	if st.hb != nil {
		st.hb.Stop() // the loop's heartbeat list takes over
		st.hb, st.hbC = nil, nil
	}
	if err := pk.c.Park(nc); err != nil {
		// Cannot happen where parkable said yes, but for a poller the
		// system refuses (out of descriptors): end the stream.
		pk.stopCtx()
		st.gone = true
		st.opts.Hooks.Fail(st.conn, err)
		st.stop(err)
		_ = nc.Close()
		st.opts.Hooks.Close(st.conn, st.reason)
		pk.release()
	}
	return true
}

// Run implements [park.Task]: the stream's pump, a run at a time.
func (pk *parked) Run(c *park.Conn, why park.Why) {
	st := pk.st
	buf := bufs.Get().(*[]byte)
	st.buf = (*buf)[:0]
	defer func() {
		*buf = transport.Idle(st.buf)
		st.buf = nil
		bufs.Put(buf)
	}()
	switch {
	case pk.ending: // what end wrote is written
		c.Close()
		return
	case why&park.HungUp != 0:
		if err := c.Err(); err != nil {
			st.fail(err) // a write of what the socket had not taken
		} else {
			// As when net/http sees the client leave: no error.
			st.gone = true
			st.stop(ErrClientGone)
		}
		pk.end()
		return
	case st.ctx.Err() != nil:
		pk.end()
		return
	}
	for {
		b, err := pk.sess.Take(st.ctx, st.opts.MaxBatch)
		if len(b.Items) > 0 && !st.writeItems(pk.sess, b.Items) {
			pk.end()
			return
		}
		if err != nil {
			st.sessionEnded(err)
			pk.end()
			return
		}
		if len(b.Items) == 0 {
			break
		}
		if c.Blocked() || len(b.Items) == st.opts.MaxBatch {
			c.Wake() // more after the others' turn, or once it drained
			return
		}
	}
	if why&park.Beat != 0 && !st.heartbeat() {
		pk.end()
	}
}

// end ends the stream: the final writes (see stream.finish), the hooks
// and the stream's bookkeeping, then net/http's last chunk and the close,
// in the order of a stream on net/http's goroutine, whose handler returns
// before its response ends. The connection closes once all is written.
func (pk *parked) end() {
	st := pk.st
	pk.stopCtx()
	pk.ending = true
	st.closing()
	st.opts.Hooks.Close(st.conn, st.reason)
	pk.release()
	if pk.chunked && !st.gone {
		_ = pk.c.Write(lastChunk)
	}
	if !pk.c.Blocked() {
		pk.c.Close()
	}
}

// lastChunk ends a chunked body, as net/http ends it.
var lastChunk = []byte("0\r\n\r\n")

var crlf = []byte("\r\n")

// flush writes buf on the parked connection, framed as net/http frames a
// flushed write: one chunk over HTTP/1.1, the bytes alone over HTTP/1.0.
func (pk *parked) flush() bool {
	st := pk.st
	if len(st.buf) == 0 {
		return true
	}
	var err error
	if pk.chunked {
		var h [18]byte
		err = pk.c.Write(append(strconv.AppendInt(h[:0], int64(len(st.buf)), 16), '\r', '\n'), st.buf, crlf)
	} else {
		err = pk.c.Write(st.buf)
	}
	if err != nil {
		return st.fail(err)
	}
	st.buf = st.buf[:0]
	return true
}
