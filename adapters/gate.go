package adapters

import (
	"context"
	"net/http"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// ExpiresAt records, from an [AuthorizeFunc], that its answer about r
// holds until t (for a JWT, its exp): the stream, poll or WebSocket
// connection that r opens ends at t, or at the earliest t the hook gave
// for any of its topics, on every transport:
//
//   - SSE: an event named "expired" whose data is JSON
//     {"message","cursor"}, then the end of the response;
//   - WebSocket: closed with 4401 (websocket.StatusExpired), the reason
//     starting with "cursor=ID; " on a topic's connection; unless the
//     client sent a refresh message with a new token before t (see the
//     websocket package);
//   - long-poll: a held request is answered 401, with the cursor in
//     X-Cursor;
//   - every transport: a request whose hook gives a t already past is
//     refused 401 (so the next poll, or a reconnection with the same
//     token, is refused even when the hook's own check has a leeway).
//
// The transports' Hooks Closed are told [ErrExpired]. A client that comes
// back with a new token and its cursor loses nothing. The zero t changes
// nothing. ExpiresAt has effect only while the hook runs, on the request
// it was given.
//
// Expiry is told with a call rather than a return value so that every
// AuthorizeFunc keeps its type, and one hook type serves [Options],
// [Authorize] and rxecho.Authorize alike.
func ExpiresAt(r *http.Request, t time.Time) { transport.ExpiresAt(r, t) }

// SetUser records, from an [AuthorizeFunc], the user that r acts for (for
// a JWT, its sub): the key of the per-user limit ([GateOptions.MaxPerUser])
// and of [Gate.Revoke], and the User of the transports' Hooks Conn. A
// later call replaces it; without one, the request is anonymous.
func SetUser(r *http.Request, user string) { transport.SetUser(r, user) }

// Gate admits the connections of one or more transport servers and ends
// them:
//
//   - limits, each with a default that protects a server out of the box
//     ([GateOptions]): open connections per user and per client address,
//     and connection attempts per second per address. Over one, an HTTP
//     request (an SSE stream, a poll, a WebSocket handshake over the
//     connect rate) is answered 429 with a Retry-After; a WebSocket over
//     a connection limit is upgraded and closed at once with 1013 (its
//     address's connections) or 1008 (its user's), and a reason that
//     says when to try again, which a browser can read. Every other
//     client is unaffected. The subscriptions of one connection are
//     bounded by each server's MaxTopics (64 by default): a request
//     naming more is a 400, a WebSocket subscribe past it an error
//     message, the connection going on;
//   - expiry: see [ExpiresAt];
//   - revocation: [Gate.Revoke] ends the connections of a user,
//     [Gate.RevokeTopic] the subscriptions to a topic, on this node and,
//     with [GateOptions.Relay] (a *natsbroker.Broker or *redisbroker.Broker), on every node: SSE
//     with an event named "revoked", WebSocket with 4403
//     (websocket.StatusRevoked), a held long-poll with 403; the transports'
//     Hooks Closed are told [ErrRevoked].
//
// Give one Gate to every server of a process ([Options.Gate], and the
// transports' Options.Gate) so that its limits count all of their
// connections and a revocation reaches them all. A server given none has
// one of its own with default limits; an [Endpoint] given none makes one
// for the servers it makes.
//
// The zero Gate is ready to use with default limits and no relay. All
// methods may be called concurrently.
type Gate = transport.Gate

// GateOptions configures a [Gate]; see [NewGate].
type GateOptions = transport.GateOptions

// Relay carries a Gate's revocations between the nodes of a cluster;
// *natsbroker.Broker and *redisbroker.Broker are ones.
type Relay = transport.Relay

// LimitError is the cause (the Err of the 429 [StatusError]) of a
// connection refused over one of a [Gate]'s limits.
type LimitError = transport.LimitError

// Limit names one of a [Gate]'s limits.
type Limit = transport.Limit

// The limits of a [Gate].
const (
	LimitRate    = transport.LimitRate    // connection attempts per second from one address
	LimitAddress = transport.LimitAddress // open connections from one address
	LimitUser    = transport.LimitUser    // open connections of one user
)

// Defaults of [GateOptions].
const (
	DefaultMaxPerUser    = transport.DefaultMaxPerUser
	DefaultMaxPerAddress = transport.DefaultMaxPerAddress
	DefaultConnectRate   = transport.DefaultConnectRate
	DefaultLimitRetry    = transport.DefaultLimitRetry
	DefaultMaxAddresses  = transport.DefaultMaxAddresses
)

// NewGate returns a Gate with the given options; opts may be nil. It
// fails when an option is out of range, or when the relay cannot be
// listened to. Close it when it is no longer used: it stops listening to
// the relay.
func NewGate(opts *GateOptions) (*Gate, error) { return transport.NewGate(opts) }

// gates returns the distinct Gates of the endpoint's servers.
func (ep *Endpoint) gates() []*Gate {
	o := &ep.opts
	var gs []*Gate
	for _, g := range []*Gate{o.SSE.Gate(), o.LongPoll.Gate(), o.ShortPoll.Gate(), o.WebSocket.Gate()} {
		seen := false
		for _, h := range gs {
			seen = seen || h == g
		}
		if !seen {
			gs = append(gs, g)
		}
	}
	return gs
}

// Revoke ends the connections of user on every transport of the
// endpoint, and through the Gates' relay on every node (see
// [Gate.Revoke]). It returns how many it ended here, and the first
// relay error.
func (ep *Endpoint) Revoke(ctx context.Context, user string) (int, error) {
	return ep.revoke(func(g *Gate) (int, error) { return g.Revoke(ctx, user) })
}

// RevokeTopic ends the subscriptions to topic on every transport of the
// endpoint, and through the Gates' relay on every node (see
// [Gate.RevokeTopic]).
func (ep *Endpoint) RevokeTopic(ctx context.Context, topic string) (int, error) {
	return ep.revoke(func(g *Gate) (int, error) { return g.RevokeTopic(ctx, topic) })
}

func (ep *Endpoint) revoke(f func(*Gate) (int, error)) (int, error) {
	var n int
	var first error
	for _, g := range ep.gates() {
		k, err := f(g)
		n += k
		if first == nil {
			first = err
		}
	}
	return n, first
}
