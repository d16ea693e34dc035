package longpoll

import (
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Producer makes the observable of one long-poll request, like a Spring
// handler that returns a DeferredResult; it is the same type on every
// transport. r's context is the observable's lifetime: the handler
// cancels it as soon as it has its answer (the first item, and those that
// arrive within [Options.BatchWindow]), when the timeout expires, when the
// client leaves and at shutdown, and waits (up to a second) for the
// producer to stop before answering. Build every rxgo stage with
// rxgo.WithContext(r.Context()), or use the streams package, so that
// nothing outlives the request. cursor is the client's cursor (the cursor
// or lastEventId query parameter, or the Last-Event-ID header, which
// wins), empty on a first request.
//
// Items may be [framework.Event], [framework.Gap], a string, a []byte or
// a json.RawMessage; an error item, or any other value, before any event
// fails the request (500, naming the value's type). A non-nil error
// answers the request instead: a [*StatusError] with its status, any
// other error 500.
type Producer = transport.Producer

// StatusError is an HTTP status with a message: what a [Producer]
// returns to answer with a status of its choosing, and what a [Client]
// returns for an answer it does not retry (a 4xx other than 408 and 429:
// a malformed cursor, an unknown route, a refusal).
type StatusError = transport.StatusError

// Hooks are optional callbacks about the requests a [Server] serves, the
// same on every transport: Opened when a request is accepted, Error for
// an error that ends it or that its client does not see, Closed exactly
// once with why it ended ([ErrCompleted], [ErrTimeout], [ErrClientGone],
// [ErrShutdown], or the error). Refused requests (a bad cursor, topic or
// timeout, an authorization refused, a request after [Server.Close]) are
// not opened.
type Hooks = transport.Hooks

// Conn describes one long-poll request to the [Hooks].
type Conn = transport.Conn

// Why a request ended, as [Hooks] Closed is told; match them with
// errors.Is.
var (
	// ErrCompleted: the request was answered (events, a gap, or nothing
	// from a producer that completed).
	ErrCompleted = transport.ErrCompleted
	// ErrTimeout: the timeout passed with nothing to answer (204).
	ErrTimeout = transport.ErrTimeout
	// ErrClientGone: the client left before the answer, or its write
	// failed.
	ErrClientGone = transport.ErrClientGone
	// ErrShutdown: [Server.Close] ended the request (503).
	ErrShutdown = transport.ErrShutdown
	// ErrExpired: the authorization hook's answer expired (see
	// adapters.ExpiresAt) while the request was held: answered 401.
	ErrExpired = transport.ErrExpired
	// ErrRevoked: the [Gate] revoked the request's user or one of its
	// topics while it was held: answered 403.
	ErrRevoked = transport.ErrRevoked
)

// Gate admits the requests of one or more servers and ends them (see
// [Options.Gate]): the same type as adapters.Gate, which documents it and
// whose NewGate makes one with options.
type Gate = transport.Gate
