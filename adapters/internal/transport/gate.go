package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of [GateOptions]: what protects a server whose options say
// nothing. Every connection attempt (a stream, a WebSocket handshake, each
// poll request) counts against the connect rate; every stream,
// WebSocket and poll counts as an open connection while it is served.
const (
	// DefaultMaxPerUser bounds the open connections of one user: a user
	// with 16 tabs on two devices, each holding one connection for all
	// its topics, fits.
	DefaultMaxPerUser = 32
	// DefaultMaxPerAddress bounds the open connections from one client
	// address: 40 addresses to exhaust a process allowed 20,000 files,
	// and room for an office behind one NAT.
	DefaultMaxPerAddress = 512
	// DefaultConnectRate is the sustained rate of connection attempts
	// from one address, per second, with a burst of twice as many: a
	// long-poll client under a constant stream of events polls at most
	// 1/BatchWindow (50) times a second.
	DefaultConnectRate = 100
	// DefaultLimitRetry is the base of the jittered Retry-After of a
	// connection refused over a connection limit.
	DefaultLimitRetry = 5 * time.Second
	// DefaultMaxAddresses bounds the per-address entries kept for
	// addresses without an open connection (about 150 bytes each).
	DefaultMaxAddresses = 1 << 16
)

// sweepEvery is how often the per-address table drops idle entries: an
// address without open connections whose connect budget has refilled is
// forgotten within this long of it.
const sweepEvery = 10 * time.Second

// Why a connection ended, besides [ErrCompleted] and the others: match
// them with errors.Is.
var (
	// ErrExpired: the authorization hook's answer expired ([ExpiresAt]),
	// or a refresh was refused with 401.
	ErrExpired = errors.New("rxstream: authorization expired")
	// ErrRevoked: [Gate.Revoke] or [Gate.RevokeTopic] ended it, on this
	// node or another, or a refresh no longer granted its topic.
	ErrRevoked = errors.New("rxstream: authorization revoked")
)

// Limit names one of a [Gate]'s limits.
type Limit int

// The limits of a [Gate].
const (
	LimitRate    Limit = iota + 1 // connection attempts per second from one address
	LimitAddress                  // open connections from one address
	LimitUser                     // open connections of one user
)

// LimitError is the cause of a connection refused over a limit: the
// Err of the 429 [StatusError] an HTTP request gets.
type LimitError struct {
	Limit Limit
	// Max is the limit's value: connections, or attempts per second.
	Max float64
	// RetryAfter is when trying again may succeed.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitRate:
		return fmt.Sprintf("rxstream: more than %g connection attempts per second from this address", e.Max)
	case LimitAddress:
		return fmt.Sprintf("rxstream: more than %g open connections from this address", e.Max)
	}
	return fmt.Sprintf("rxstream: more than %g open connections of this user", e.Max)
}

// Relay carries a Gate's revocations to the Gates of the other nodes of a
// cluster; *natsbroker.Broker (a NATS subject of its own) and
// *redisbroker.Broker (a pub/sub channel) are ones. Neither stores it: a
// node that is disconnected when a revocation is sent misses it.
type Relay interface {
	// Notify sends data to the Listen callbacks of channel on every
	// node, this one included. An error means it may not have been sent.
	Notify(ctx context.Context, channel string, data []byte) error
	// Listen calls fn with the data of every Notify of channel, from any
	// node, until stop is called. fn must not block for long.
	Listen(channel string, fn func(data []byte)) (stop func(), err error)
}

// GateOptions configures a [Gate]. The zero value means defaults; a
// negative limit means none.
type GateOptions struct {
	// MaxPerUser bounds the open connections of one user, as the
	// authorization hook names it ([SetUser]); 0 means
	// [DefaultMaxPerUser]. An anonymous request has no such limit.
	MaxPerUser int
	// MaxPerAddress bounds the open connections from one client address
	// (see TrustedProxies); 0 means [DefaultMaxPerAddress].
	MaxPerAddress int
	// ConnectRate bounds the connection attempts from one client address,
	// per second, sustained; 0 means [DefaultConnectRate].
	ConnectRate float64
	// ConnectBurst is how many attempts an address may make at once
	// before ConnectRate applies; 0 means twice ConnectRate.
	ConnectBurst int
	// RetryAfter is the base of the Retry-After of a request refused over
	// MaxPerUser or MaxPerAddress, jittered to [d, 2d); 0 means
	// [DefaultLimitRetry]. Over ConnectRate, Retry-After is when the
	// address may try again.
	RetryAfter time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// is believed. A request from any other peer counts against the
	// peer's own address, whatever its headers say. Behind a proxy, list
	// it: otherwise every client counts as the proxy's address, and
	// MaxPerAddress bounds the whole site.
	TrustedProxies []netip.Prefix
	// MaxAddresses bounds the entries kept for client addresses without
	// an open connection (their connect budget); past it the oldest are
	// forgotten at once instead of when their budget has refilled. 0
	// means [DefaultMaxAddresses]. Addresses with open connections are
	// kept whatever their number: the connections bound them.
	MaxAddresses int
	// Relay, when set, carries revocations to the Gates of the other
	// nodes, and theirs to this one.
	Relay Relay
	// Logger receives a line per revocation received from another node
	// that cannot be read; nil means slog.Default().
	Logger *slog.Logger
}

// Gate admits the connections of one or more transport servers and ends
// them: the per-user, per-address and connect-rate limits, the expiry of
// the authorization hook's answers, and revocation. Share one Gate
// between the servers of a process, so that its limits count every
// transport and a revocation reaches every connection; a server without
// one has a Gate of its own with default limits.
//
// The zero Gate is ready to use with default options, without a relay.
// All methods may be called concurrently.
type Gate struct {
	once   sync.Once
	opts   GateOptions // resolved
	node   string      // tells this Gate's relayed revocations apart
	log    *slog.Logger
	stop   func() // of the relay's Listen
	mu     sync.Mutex
	addrs  map[netip.Prefix]*addrState
	users  map[string]map[*Pass]struct{}
	topics map[string]map[*Pass]struct{}
	swept  time.Time
	conns  int
}

type addrState struct {
	conns int
	lim   *rate.Limiter // nil: no connect rate
}

// NewGate returns a Gate with the given options; opts may be nil. It fails
// when an option is out of range or the relay cannot be listened to; then
// Close it when it is no longer used.
func NewGate(opts *GateOptions) (*Gate, error) {
	g := &Gate{}
	if opts != nil {
		g.opts = *opts
		g.opts.TrustedProxies = append([]netip.Prefix(nil), opts.TrustedProxies...)
	}
	o := &g.opts
	if math.IsNaN(o.ConnectRate) || math.IsInf(o.ConnectRate, 0) {
		return nil, fmt.Errorf("rxstream: GateOptions.ConnectRate %g is not a number of attempts per second", o.ConnectRate)
	}
	if o.ConnectBurst < 0 || o.RetryAfter < 0 || o.MaxAddresses < 0 {
		return nil, fmt.Errorf("rxstream: GateOptions: negative ConnectBurst %d, RetryAfter %s or MaxAddresses %d", o.ConnectBurst, o.RetryAfter, o.MaxAddresses)
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("rxstream: GateOptions.TrustedProxies holds an invalid prefix")
		}
	}
	g.init()
	if o.Relay != nil {
		stop, err := o.Relay.Listen(relayChannel, g.received)
		if err != nil {
			return nil, fmt.Errorf("rxstream: gate: listening to the relay: %w", err)
		}
		g.stop = stop
	}
	return g, nil
}

// init resolves the options, once.
func (g *Gate) init() {
	g.once.Do(func() {
		o := &g.opts
		pick := func(v, def int) int {
			switch {
			case v == 0:
				return def
			case v < 0:
				return 0
			}
			return v
		}
		o.MaxPerUser = pick(o.MaxPerUser, DefaultMaxPerUser)
		o.MaxPerAddress = pick(o.MaxPerAddress, DefaultMaxPerAddress)
		o.MaxAddresses = pick(o.MaxAddresses, DefaultMaxAddresses)
		switch {
		case o.ConnectRate == 0:
			o.ConnectRate = DefaultConnectRate
		case o.ConnectRate < 0:
			o.ConnectRate = 0
		}
		if o.ConnectBurst == 0 {
			o.ConnectBurst = max(1, int(math.Ceil(2*o.ConnectRate)))
		}
		if o.RetryAfter == 0 {
			o.RetryAfter = DefaultLimitRetry
		}
		g.log = o.Logger
		if g.log == nil {
			g.log = slog.Default()
		}
		var id [8]byte
		_, _ = rand.Read(id[:])
		g.node = hex.EncodeToString(id[:])
		g.addrs = make(map[netip.Prefix]*addrState)
		g.users = make(map[string]map[*Pass]struct{})
		g.topics = make(map[string]map[*Pass]struct{})
	})
}

// Close stops listening to the relay. The Gate goes on admitting and
// revoking on this node. It is idempotent.
func (g *Gate) Close() {
	g.mu.Lock()
	stop := g.stop
	g.stop = nil
	g.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Connections returns the number of connections the Gate has admitted
// that are still open.
func (g *Gate) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns
}

// Addresses returns the number of client addresses the Gate keeps an
// entry for: those with open connections, and those whose connect budget
// has not been forgotten yet.
func (g *Gate) Addresses() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.addrs)
}

// Revoke ends every connection of user on this node (those whose
// authorization hook named user with [SetUser]) and, with a Relay, on
// every other node: each ends as at expiry, but with [ErrRevoked]. It
// returns how many connections it ended here. It does not refuse the
// user's next requests: the hook must (a deny list, a token version). The
// error is the relay's: the connections here are ended anyway.
func (g *Gate) Revoke(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil
	}
	n := g.revoke(user, "")
	return n, g.relay(ctx, revocation{User: user})
}

// RevokeTopic ends every subscription to topic on this node and, with a
// Relay, on every other node: a multiplexed WebSocket connection loses that
// topic (an error message with status 403) and keeps the others; every
// other connection that follows it ends with [ErrRevoked]. It returns how
// many connections it reached here; the error is the relay's.
func (g *Gate) RevokeTopic(ctx context.Context, topic string) (int, error) {
	if topic == "" {
		return 0, nil
	}
	n := g.revoke("", topic)
	return n, g.relay(ctx, revocation{Topic: topic})
}

// relayChannel is the Relay channel of revocations.
const relayChannel = "revoke"

// revocation is a relayed revocation, as JSON.
type revocation struct {
	Node  string `json:"node"`
	User  string `json:"user,omitempty"`
	Topic string `json:"topic,omitempty"`
}

func (g *Gate) relay(ctx context.Context, rv revocation) error {
	g.init()
	if g.opts.Relay == nil {
		return nil
	}
	rv.Node = g.node
	data, _ := json.Marshal(rv)
	if err := g.opts.Relay.Notify(ctx, relayChannel, data); err != nil {
		return fmt.Errorf("rxstream: gate: relaying the revocation: %w", err)
	}
	return nil
}

// maxRevocation bounds a relayed revocation: a user and a topic fit.
const maxRevocation = 4 << 10

func (g *Gate) received(data []byte) {
	var rv revocation
	if len(data) > maxRevocation || json.Unmarshal(data, &rv) != nil || rv.Node == "" {
		g.log.Warn("rxstream: gate: a relayed revocation cannot be read", "bytes", len(data))
		return
	}
	if rv.Node == g.node {
		return // revoked here already
	}
	switch {
	case rv.User != "":
		g.revoke(rv.User, "")
	case rv.Topic != "":
		g.revoke("", rv.Topic)
	}
}

// revoke ends the passes of user, or those that follow topic.
func (g *Gate) revoke(user, topic string) int {
	g.init()
	var set map[*Pass]struct{}
	var cause error = ErrRevoked
	g.mu.Lock()
	if user != "" {
		set = g.users[user]
	} else {
		set = g.topics[topic]
		cause = &topicRevoked{topic: topic}
	}
	type end struct {
		cancel  context.CancelCauseFunc
		onTopic func(string)
	}
	ends := make([]end, 0, len(set))
	for p := range set {
		switch {
		case user == "" && p.onTopic != nil:
			ends = append(ends, end{onTopic: p.onTopic})
		case p.cancel != nil:
			ends = append(ends, end{cancel: p.cancel})
		case p.pending == nil:
			p.pending = cause // ended as soon as it is bound
		}
	}
	n := len(set)
	g.mu.Unlock()
	for _, e := range ends {
		if e.onTopic != nil {
			e.onTopic(topic)
		} else {
			e.cancel(cause)
		}
	}
	return n
}

// topicRevoked is the cause of a connection ended by RevokeTopic.
type topicRevoked struct{ topic string }

func (e *topicRevoked) Error() string { return ErrRevoked.Error() + ": topic " + e.topic }
func (e *topicRevoked) Unwrap() error { return ErrRevoked }

// RevokedTopic returns the topic whose revocation err is (or wraps), or
// "".
func RevokedTopic(err error) string {
	var e *topicRevoked
	if errors.As(err, &e) {
		return e.topic
	}
	return ""
}

// AuthEnded returns the cause of ctx, bound by [Pass.Bind], when the
// authorization ended it: an error matching [ErrExpired] or [ErrRevoked];
// else nil.
func AuthEnded(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrExpired) || errors.Is(cause, ErrRevoked) {
		return cause
	}
	return nil
}

// AuthStatus is the HTTP answer to a request that err, an end of its
// authorization, ended or refused: 401 for an expiry, with a Bearer
// challenge (RFC 6750: the token expired), and 403 for a revocation,
// naming its topic.
func AuthStatus(err error) *StatusError {
	if errors.Is(err, ErrExpired) {
		return &StatusError{Code: http.StatusUnauthorized, Message: ErrExpired.Error(), Err: err,
			Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description="the authorization expired"`}}}
	}
	return &StatusError{Code: http.StatusForbidden, Message: ErrRevoked.Error(), Topic: RevokedTopic(err), Err: err}
}

// refuse is the 429 of a limit.
func (g *Gate) refuse(l Limit, limit float64, retry time.Duration) *StatusError {
	e := &LimitError{Limit: l, Max: limit, RetryAfter: retry}
	return &StatusError{Code: http.StatusTooManyRequests, Message: e.Error(), RetryAfter: retry, Err: e}
}

// enter takes one connection attempt of key: its connect budget, then a
// place among its open connections.
func (g *Gate) enter(key netip.Prefix, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.addrs[key]
	if st == nil {
		if now.Sub(g.swept) >= sweepEvery || len(g.addrs) >= g.opts.MaxAddresses && now.Sub(g.swept) >= sweepEvery/100 {
			g.sweep(now)
		}
		st = &addrState{}
		if g.opts.ConnectRate > 0 {
			st.lim = rate.NewLimiter(rate.Limit(g.opts.ConnectRate), g.opts.ConnectBurst)
		}
		g.addrs[key] = st
	}
	if st.lim != nil {
		res := st.lim.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return g.refuse(LimitRate, g.opts.ConnectRate, max(d, time.Second))
		}
	}
	if m := g.opts.MaxPerAddress; m > 0 && st.conns >= m {
		return g.refuse(LimitAddress, float64(m), Jitter(g.opts.RetryAfter))
	}
	st.conns++
	return nil
}

// sweep forgets the addresses without open connections whose budget has
// refilled; past MaxAddresses, those without open connections at all.
// g.mu is held.
func (g *Gate) sweep(now time.Time) {
	g.swept = now
	for k, st := range g.addrs {
		if st.conns == 0 && (st.lim == nil || st.lim.TokensAt(now) >= float64(st.lim.Burst())) {
			delete(g.addrs, k)
		}
	}
	if len(g.addrs) < g.opts.MaxAddresses {
		return
	}
	for k, st := range g.addrs {
		if st.conns == 0 {
			delete(g.addrs, k)
			if len(g.addrs) <= g.opts.MaxAddresses*3/4 {
				return
			}
		}
	}
}

// Unlimited returns a Gate without limits, for the tests that open, from
// one address, more connections than a client ever would.
func Unlimited() *Gate {
	g, _ := NewGate(&GateOptions{MaxPerUser: -1, MaxPerAddress: -1, ConnectRate: -1})
	return g
}
