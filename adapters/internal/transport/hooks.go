package transport

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/reactivex/rxgo/v2"
)

// Producer makes the observable of a stream for one request, on every
// transport. r's context is the stream's lifetime: it ends when the client
// leaves, the stream ends or the server closes; build every rxgo stage
// with rxgo.WithContext(r.Context()), or use the streams package, so that
// nothing outlives it. cursor is the client's resume cursor under any of
// its spellings, "" on a first connection.
//
// r must not be kept after Producer returns. A non-nil error answers the
// request instead of streaming (a [*StatusError] keeps its status, any
// other error is a 500).
type Producer func(r *http.Request, cursor string) (rxgo.Observable, error)

// Why a stream or poll ended, as [Hooks.Closed] is told: match them with
// errors.Is. Any other reason is the error that ended it (a producer's
// error, a write that failed, framework.ErrOverflow for a subscriber that
// fell too far behind, the hub closing).
var (
	// ErrCompleted: the producer completed, or a poll was answered.
	ErrCompleted = errors.New("rxstream: completed")
	// ErrTimeout: a long-poll's timeout passed with nothing to answer.
	ErrTimeout = errors.New("rxstream: timed out with nothing new")
	// ErrClientGone: the client went away (it closed the connection, or
	// a write to it failed).
	ErrClientGone = errors.New("rxstream: client gone")
)

// Conn describes one stream, poll or WebSocket connection to the [Hooks].
// Its fields are set before Opened and must not be modified.
type Conn struct {
	// ID identifies the connection among those of the process.
	ID string
	// Transport is "sse", "longpoll", "shortpoll" or "websocket".
	Transport string
	// RemoteAddr is the peer's network address.
	RemoteAddr string
	// URL is the request's URL; Header its headers.
	URL    *url.URL
	Header http.Header
	// Cursor is the resume cursor the client presented, if any.
	Cursor string
	// Topics are the hub topics the request follows when it opens; nil
	// for a producer's stream.
	Topics []string
	// Subprotocol is the negotiated WebSocket subprotocol, if any.
	Subprotocol string
	// User is the user the authorization hook named (see SetUser), if
	// any.
	User string
}

var connIDs atomic.Uint64

// NewConn describes the request r served on transport.
func NewConn(transport string, r *http.Request, cursor string, topics []string) *Conn {
	return &Conn{
		ID:         strconv.FormatUint(connIDs.Add(1), 36),
		Transport:  transport,
		RemoteAddr: r.RemoteAddr,
		URL:        r.URL,
		Header:     r.Header,
		Cursor:     cursor,
		Topics:     topics,
	}
}

// Hooks are optional callbacks about the requests a server serves, with
// the same names and meaning on every transport. They run on the
// request's goroutines: they must not block for long, and must not keep
// the request.
type Hooks struct {
	// Opened is called when a request is accepted, before its first write
	// (for a WebSocket, once it is upgraded). Refused requests are not
	// opened.
	Opened func(c *Conn)
	// Error is called with each error met while serving an opened
	// request that ends it or that the client does not see: a producer's
	// error, a write that failed or timed out, a subscription that ended
	// on an overflow, a malformed inbound message.
	Error func(c *Conn, err error)
	// Closed is called once when an opened request has ended, with why:
	// [ErrCompleted], [ErrTimeout], [ErrClientGone], [ErrShutdown],
	// [ErrExpired], [ErrRevoked], or the error that ended it.
	Closed func(c *Conn, reason error)
}

// Open calls h.Opened.
func (h *Hooks) Open(c *Conn) {
	if h.Opened != nil {
		h.Opened(c)
	}
}

// Fail calls h.Error.
func (h *Hooks) Fail(c *Conn, err error) {
	if h.Error != nil && err != nil {
		h.Error(c, err)
	}
}

// Close calls h.Closed with reason, ErrCompleted when nil.
func (h *Hooks) Close(c *Conn, reason error) {
	if reason == nil {
		reason = ErrCompleted
	}
	if h.Closed != nil {
		h.Closed(c, reason)
	}
}
