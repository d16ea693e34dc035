package sse

import "github.com/rxstream/rxstream/adapters/internal/transport"

// The types and errors every rxstream transport shares: each is the same
// type (or value) in the sse, longpoll, shortpoll and websocket packages,
// so code written against one works with all of them.
type (
	// Producer makes the observable of a stream for one request; see
	// [Server.Stream] for the items it may emit. The request's context is
	// the stream's lifetime: build every rxgo stage with
	// rxgo.WithContext(r.Context()), or use the streams package, so that
	// nothing outlives it. cursor is the client's resume cursor (the
	// Last-Event-ID header, or the lastEventId or cursor query
	// parameter), "" on a first connection. r must not be kept after
	// Producer returns. A non-nil error answers the request instead of
	// streaming: a [*StatusError] (in the error's chain) with its status,
	// any other error with 500.
	Producer = transport.Producer

	// StatusError is an HTTP status with a message: what a [Producer]
	// returns to refuse a request with a status of its choosing, what the
	// [Server] answers a refusal with (as the JSON body {"message": ...}),
	// and what a [Client] or [MultiClient] returns for an answer it does
	// not retry.
	StatusError = transport.StatusError

	// Hooks are the optional callbacks of [Options.Hooks] about the
	// streams a [Server] serves: Opened when a stream is accepted, Error
	// for an error that ends it or that the client does not see, Closed
	// once when it has ended, with why.
	Hooks = transport.Hooks

	// Conn describes one stream to the [Hooks]: its ID, its request's
	// URL, headers and remote address, the cursor it resumed from, and
	// the hub topics it follows (nil for a [Producer]'s stream). Its
	// Transport is "sse".
	Conn = transport.Conn

	// Gate admits the streams of one or more servers and ends them (see
	// [Options.Gate]): the same type as adapters.Gate, which documents it
	// and whose NewGate makes one with options.
	Gate = transport.Gate
)

// Why a stream ended, as [Hooks] Closed is told: match them with
// errors.Is. Any other reason is the error that ended the stream: a
// producer's error, an event that cannot be written, a subscription that
// overflowed ([framework.ErrOverflow]) or whose hub closed
// ([framework.ErrClosed]).
var (
	// ErrCompleted: the producer completed.
	ErrCompleted = transport.ErrCompleted
	// ErrClientGone: the client went away (it closed the connection, or a
	// write to it failed or timed out; the write's error is wrapped too).
	ErrClientGone = transport.ErrClientGone
	// ErrShutdown: [Server.Close] ended the stream.
	ErrShutdown = transport.ErrShutdown
	// ErrExpired: the authorization hook's answer expired (see
	// adapters.ExpiresAt); the stream ended with an [EventExpired] event.
	ErrExpired = transport.ErrExpired
	// ErrRevoked: the [Gate] revoked the stream's user or one of its
	// topics; the stream ended with an [EventRevoked] event.
	ErrRevoked = transport.ErrRevoked
)
