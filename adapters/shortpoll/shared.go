package shortpoll

import (
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Producer makes the observable of one short-poll of [Server.Stream]; it
// is the same type on every transport. A producer keeps no history, so
// each poll observes a fresh one: r's context is its lifetime, cancelled
// as soon as the first item is answered, at [Options.Wait] with nothing,
// when the client leaves and at shutdown; the handler waits (up to a
// second) for the producer to stop before answering. Build every rxgo
// stage with rxgo.WithContext(r.Context()), or use the streams package, so
// that nothing outlives the request. cursor is the client's cursor (the
// cursor or lastEventId query parameter, or the Last-Event-ID header,
// which wins), empty on a first request.
//
// Items may be [framework.Event], [framework.Gap], a string, a []byte or
// a json.RawMessage; an error item, or any other value, fails the request
// (500, naming the value's type). A non-nil error answers the request
// instead: a [*StatusError] with its status, any other error 500.
type Producer = transport.Producer

// StatusError is an HTTP status with a message: what a [Producer]
// returns to answer with a status of its choosing, and what a [Client]
// returns for an answer it does not retry (a 4xx other than 408 and 429:
// a malformed cursor, an unknown route, a refusal).
type StatusError = transport.StatusError

// Hooks are optional callbacks about the requests a [Server] serves, the
// same on every transport: Opened when a request is accepted, Error for
// an error that ends it or that its client does not see, Closed exactly
// once with why it ended ([ErrCompleted], [ErrClientGone],
// [ErrShutdown], or the error). Refused requests (a bad cursor or topic,
// an authorization refused, a request after [Server.Close]) are not
// opened.
type Hooks = transport.Hooks

// Conn describes one short-poll request to the [Hooks].
type Conn = transport.Conn

// Why a request ended, as [Hooks] Closed is told; match them with
// errors.Is.
var (
	// ErrCompleted: the request was answered (events or none, 304, or a
	// producer's 204).
	ErrCompleted = transport.ErrCompleted
	// ErrClientGone: the client left before the answer, or its write
	// failed.
	ErrClientGone = transport.ErrClientGone
	// ErrShutdown: [Server.Close] ended the request (503).
	ErrShutdown = transport.ErrShutdown
	// ErrExpired: the authorization hook's answer expired (see
	// adapters.ExpiresAt) while the request was answered (a producer's
	// wait): answered 401. A request whose authorization already expired
	// is refused 401, and not opened.
	ErrExpired = transport.ErrExpired
	// ErrRevoked: the [Gate] revoked the request's user or one of its
	// topics while it was answered: answered 403.
	ErrRevoked = transport.ErrRevoked
)

// Gate admits the requests of one or more servers and ends them (see
// [Options.Gate]): the same type as adapters.Gate, which documents it and
// whose NewGate makes one with options.
type Gate = transport.Gate
