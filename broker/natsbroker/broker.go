package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/presence"
)

// Defaults of [Options].
const (
	DefaultStream        = "RXSTREAM"
	DefaultPrefix        = "rxstream"
	DefaultTimeout       = 5 * time.Second
	DefaultReconnectWait = 2 * time.Second
	DefaultHeartbeat     = 5 * time.Second
)

// ErrUnavailable is wrapped by the errors of a [Broker] that cannot reach
// NATS: Publish, Read and Follow while the connection is down, and the
// error that ends every Follow when the connection drops.
var ErrUnavailable = errors.New("rxstream: nats: unavailable")

// Options configures a [Broker]. The zero value means defaults.
type Options struct {
	// URL is the NATS server to connect to, or a comma-separated list of
	// the servers of a cluster; "" means nats.DefaultURL.
	URL string
	// Name is the connection's name, as NATS monitoring shows it.
	Name string
	// Stream is the JetStream stream that holds every topic; "" means
	// [DefaultStream]. It is created when missing, and its limits updated
	// when it exists, so every node must be given the same limits.
	Stream string
	// Prefix is the subject prefix: topic T is the subject "<Prefix>.T" (see
	// [Subject]) and the stream holds "<Prefix>.>"; "" means
	// [DefaultPrefix]. It must be a NATS subject without wildcards.
	Prefix string
	// MaxMsgsPerSubject is how many events each topic retains; 0 means
	// [framework.DefaultMaxEvents].
	MaxMsgsPerSubject int64
	// MaxAge is how long an event is retained; 0 means
	// [framework.DefaultMaxAge].
	MaxAge time.Duration
	// MaxBytes bounds the size of the events retained over all topics,
	// the stream's max_bytes; 0 means [framework.DefaultMaxBytes]. Past
	// it JetStream discards the stream's oldest events, whatever their
	// topic, and a reader of a discarded range gets a gap notice. JetStream
	// counts a stored message's subject, headers (the Broker's own among
	// them) and data, and reserves MaxBytes of the server's (or account's)
	// JetStream storage for the stream: a server with less to offer
	// refuses the stream, and New fails. JetStream (server 2.15) has no
	// per-subject byte limit, so the memory broker's per-topic byte bound
	// ([framework.MemoryOptions.MaxTopicBytes]) has no counterpart here:
	// a topic's events are bounded by MaxMsgsPerSubject and MaxBytes.
	MaxBytes int64
	// KeyWindow is how long an idempotency key is remembered
	// ([Broker.PublishKeyed]): the stream's duplicate window. 0 means
	// JetStream's default, two minutes ([framework.DefaultKeyWindow]), or
	// MaxAge when that is shorter, or the server's limit on the window
	// when that is lower. JetStream requires it to be at least 100ms and
	// at most MaxAge. The servers keep the keys of the window in memory,
	// as many as were published in it: there is no count bound as on the
	// memory broker.
	KeyWindow time.Duration
	// Replicas is the stream's replication factor in a NATS cluster (1, 3
	// or 5); 0 means 1.
	Replicas int
	// MemoryStorage keeps the stream in the servers' memory instead of on
	// disk: history then does not survive a NATS restart (the stream is
	// recreated with a new epoch, and clients get a gap notice).
	MemoryStorage bool
	// Timeout bounds every request to NATS (publish acknowledgement, reads,
	// creating a consumer) when the caller's context has no earlier
	// deadline; 0 means [DefaultTimeout].
	Timeout time.Duration
	// ReconnectWait is the delay between reconnection attempts (jittered by
	// nats.go); 0 means [DefaultReconnectWait]. The connection retries
	// forever.
	ReconnectWait time.Duration
	// Heartbeat is the idle heartbeat the server sends on each Follow's
	// consumer; a Follow that misses three in a row (its consumer or stream
	// was deleted) ends with an error wrapping [ErrUnavailable]. 0 means
	// [DefaultHeartbeat].
	Heartbeat time.Duration
	// PresenceTTL bounds how long the members of a node that died (killed,
	// or cut off from NATS) stay listed on the other nodes, which then
	// announce their leaves ([framework.PresenceBroker]); 0 means
	// [DefaultPresenceTTL]. A node puts its heartbeat every PresenceTTL/4;
	// one not heard of for PresenceTTL/2 is taken for dead. At least
	// 100ms; every node must be given the same.
	PresenceTTL time.Duration
	// NATSOptions are applied to the connection before the Broker's own
	// (reconnection and the handlers that log and end Follows), for
	// credentials, TLS and the like.
	NATSOptions []nats.Option
	// Logger receives the connection's events: disconnected (Warn),
	// reconnected (Info), each failed reconnection attempt (Debug), and
	// asynchronous errors (Warn); nil means slog.Default().
	Logger *slog.Logger
}

// Broker is a [framework.Broker] on NATS JetStream, so that several
// processes serve the same topics: an event published on any node reaches
// the subscribers of every node, and a cursor issued by one node resumes on
// another.
//
// All topics live in one stream; an event's cursor is its stream sequence
// number, with an epoch drawn from the stream's creation time, so a
// recreated stream makes old cursors stale (their holders get a
// [framework.Gap]). Each node follows a topic with one push consumer however
// many clients it serves; the [framework.Hub] fans out locally.
//
// When the connection drops, every Follow ends with an error wrapping
// [ErrUnavailable] (the Hub ends the topic's subscriptions, whose clients
// reconnect and resume from history), and Publish, Read and Follow fail at
// once with it until nats.go has reconnected.
//
// All methods may be called concurrently.
type Broker struct {
	opts   Options // read-only after New
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	config jetstream.StreamConfig

	mu      sync.Mutex
	stream  jetstream.Stream
	epoch   string
	stale   bool // reconnected since the stream was last looked up
	closed  bool
	follows map[*follow]struct{}
	// conn ends (with cause errDisconnected) when the connection drops, so
	// requests in flight fail at once instead of at their timeout; a new
	// one starts at each reconnection.
	conn       context.Context
	connCancel context.CancelCauseFunc

	pub         publisher
	pres        *presence.Node
	cleanup     sync.WaitGroup // consumer deletions in flight; Close waits
	closingDone bool           // Close is waiting for cleanup: no more deletions; guarded by mu
}

var (
	_ framework.Broker         = (*Broker)(nil)
	_ framework.KeyedPublisher = (*Broker)(nil)
)

// minKeyWindow is JetStream's shortest duplicate window.
const minKeyWindow = 100 * time.Millisecond

// New connects to NATS, creates or updates the stream and returns the
// Broker; opts may be nil. It fails when an option is out of range, when
// NATS cannot be reached, or when JetStream refuses the stream. ctx bounds
// the setup.
func New(ctx context.Context, opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("rxstream: nats: negative MaxBytes %d", o.MaxBytes)
	}
	if o.MaxMsgsPerSubject < 0 || o.MaxAge < 0 || o.Timeout < 0 || o.ReconnectWait < 0 || o.Replicas < 0 || o.Heartbeat < 0 {
		return nil, errors.New("rxstream: nats: negative limit, Timeout, ReconnectWait, Heartbeat or Replicas")
	}
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !validPrefix(o.Prefix) {
		return nil, fmt.Errorf("rxstream: nats: invalid subject prefix %q", o.Prefix)
	}
	if o.MaxMsgsPerSubject == 0 {
		o.MaxMsgsPerSubject = framework.DefaultMaxEvents
	}
	if o.MaxAge == 0 {
		o.MaxAge = framework.DefaultMaxAge
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = framework.DefaultMaxBytes
	}
	switch {
	case o.KeyWindow < 0:
		return nil, fmt.Errorf("rxstream: nats: negative KeyWindow %v", o.KeyWindow)
	case o.KeyWindow > o.MaxAge:
		return nil, fmt.Errorf("rxstream: nats: KeyWindow %v is longer than MaxAge %v (JetStream's duplicate window must fit in the stream's max age)", o.KeyWindow, o.MaxAge)
	case o.KeyWindow > 0 && o.KeyWindow < minKeyWindow:
		return nil, fmt.Errorf("rxstream: nats: KeyWindow %v is shorter than JetStream's minimum duplicate window of %v", o.KeyWindow, minKeyWindow)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ReconnectWait == 0 {
		o.ReconnectWait = DefaultReconnectWait
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	switch {
	case o.PresenceTTL == 0:
		o.PresenceTTL = DefaultPresenceTTL
	case o.PresenceTTL < 100*time.Millisecond:
		return nil, fmt.Errorf("rxstream: nats: PresenceTTL %v is shorter than 100ms", o.PresenceTTL)
	}
	b := &Broker{opts: o, log: o.Logger, follows: make(map[*follow]struct{})}
	b.conn, b.connCancel = context.WithCancelCause(context.Background())
	if b.log == nil {
		b.log = slog.Default()
	}
	b.pres = presence.New(&bucket{b: b}, o.PresenceTTL, o.Timeout, o.ReconnectWait, b.log)
	storage := jetstream.FileStorage
	if o.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	b.config = jetstream.StreamConfig{
		Name:              o.Stream,
		Subjects:          []string{o.Prefix + ".>"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: o.MaxMsgsPerSubject,
		MaxAge:            o.MaxAge,
		MaxBytes:          o.MaxBytes,
		Storage:           storage,
		Replicas:          o.Replicas,
		AllowDirect:       true,
		Duplicates:        o.KeyWindow,
	}
	nopts := append(append([]nats.Option(nil), o.NATSOptions...),
		nats.MaxReconnects(-1),
		// No publish is held for the reconnection: nats.go would send it
		// once reconnected, after Publish had answered ErrUnavailable, and
		// a publisher told of a failure that retries would store the event
		// twice (seen as an event "published" while NATS was down).
		nats.ReconnectBufSize(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.Timeout(o.Timeout),
		nats.DisconnectErrHandler(b.disconnected),
		nats.ReconnectHandler(b.reconnected),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Debug("rxstream: nats: reconnection attempt failed", "err", err)
		}),
		nats.ClosedHandler(b.closedConn),
		nats.ErrorHandler(b.asyncError),
	)
	if o.Name != "" {
		nopts = append(nopts, nats.Name(o.Name))
	}
	nc, err := nats.Connect(o.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %w", ErrUnavailable, o.URL, err)
	}
	b.nc = nc
	b.js, err = jetstream.New(nc, jetstream.WithDefaultTimeout(o.Timeout))
	if err == nil {
		ctx, cancel := b.bound(ctx)
		_, _, err = b.lookup(ctx, true)
		cancel()
	}
	if err != nil {
		nc.Close()
		b.connCancel(framework.ErrClosed)
		return nil, err
	}
	return b, nil
}

// Epoch returns the epoch of the cursors the Broker issues now: the
// stream's creation time.
func (b *Broker) Epoch() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch
}

// Conn returns the NATS connection, for monitoring. Closing it ends the
// Broker's use of NATS.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Close ends every Follow (without calling its fn, so close the Hub first),
// deletes their consumers and closes the NATS connection. Publish, Read and
// Follow then fail with [framework.ErrClosed]. Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	follows := b.follows
	b.follows = nil
	b.mu.Unlock()
	b.pres.Close(b.nc.IsConnected())
	for f := range follows {
		f.stop()
	}
	b.mu.Lock()
	b.closingDone = true
	b.mu.Unlock()
	b.cleanup.Wait()
	b.nc.Close()
	b.mu.Lock()
	b.connCancel(framework.ErrClosed)
	b.mu.Unlock()
	return nil
}

// errDisconnected ends the requests in flight when the connection drops.
var errDisconnected = fmt.Errorf("%w: disconnected", ErrUnavailable)

// bound returns ctx with the Broker's Timeout unless it ends earlier, and
// ended as soon as the connection drops.
func (b *Broker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	b.mu.Lock()
	// nats.go reports the reconnection after its status says connected:
	// the first request may come before the handler.
	if b.nc != nil && b.nc.IsConnected() {
		b.renewConn()
	}
	conn := b.conn
	b.mu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(conn, func() { cancel(context.Cause(conn)) })
	var tctx context.Context
	var tcancel context.CancelFunc
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= b.opts.Timeout {
		tctx, tcancel = context.WithCancel(ctx)
	} else {
		tctx, tcancel = context.WithTimeout(ctx, b.opts.Timeout)
	}
	return tctx, func() {
		stop()
		tcancel()
		cancel(nil)
	}
}

// lookup returns the stream and the epoch, asking JetStream again after a
// reconnection (the stream may have been recreated) or when force is set.
// It fails at once while the connection is down.
func (b *Broker) lookup(ctx context.Context, force bool) (jetstream.Stream, string, error) {
	b.mu.Lock()
	closed, st, epoch, stale := b.closed, b.stream, b.epoch, b.stale
	b.mu.Unlock()
	if closed {
		return nil, "", framework.ErrClosed
	}
	if s := b.nc.Status(); s != nats.CONNECTED {
		return nil, "", fmt.Errorf("%w: connection %s", ErrUnavailable, s)
	}
	if st != nil && !stale && !force {
		return st, epoch, nil
	}
	st, err := b.js.CreateOrUpdateStream(ctx, b.config)
	if err != nil {
		return nil, "", b.unavailable(ctx, fmt.Errorf("stream %s: %w", b.opts.Stream, err))
	}
	info := st.CachedInfo()
	epoch = strconv.FormatInt(info.Created.UnixNano(), 36)
	b.mu.Lock()
	if b.epoch != "" && b.epoch != epoch {
		b.log.Warn("rxstream: nats: stream was recreated: cursors of the old epoch are stale",
			"stream", b.opts.Stream, "old", b.epoch, "new", epoch)
	}
	b.stream, b.epoch, b.stale = st, epoch, false
	b.mu.Unlock()
	return st, epoch, nil
}

// renewConn starts the context of a new connection if the previous one
// dropped. b.mu is held.
func (b *Broker) renewConn() {
	if !b.closed && b.conn.Err() != nil {
		b.conn, b.connCancel = context.WithCancelCause(context.Background())
	}
}

// unavailable wraps err in [ErrUnavailable] when it is a connection or
// timeout error, or when ctx (made by bound) ended because the connection
// dropped, so callers can tell an outage from a refusal.
func (b *Broker) unavailable(ctx context.Context, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrUnavailable) {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrReconnectBufExceeded) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (b *Broker) disconnected(nc *nats.Conn, err error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return
	}
	b.log.Warn("rxstream: nats: disconnected; ending follows", "url", nc.ConnectedUrlRedacted(), "err", err)
	b.mu.Lock()
	b.stale = true
	b.connCancel(errDisconnected)
	follows := make([]*follow, 0, len(b.follows))
	for f := range b.follows {
		follows = append(follows, f)
	}
	b.mu.Unlock()
	for _, f := range follows {
		f.fail(fmt.Errorf("%w: disconnected", ErrUnavailable))
	}
}

func (b *Broker) reconnected(nc *nats.Conn) {
	b.log.Info("rxstream: nats: reconnected", "url", nc.ConnectedUrlRedacted())
	b.mu.Lock()
	b.stale = true
	b.renewConn()
	b.mu.Unlock()
}

func (b *Broker) closedConn(nc *nats.Conn) {
	b.log.Debug("rxstream: nats: connection closed")
}

func (b *Broker) asyncError(nc *nats.Conn, sub *nats.Subscription, err error) {
	b.log.Warn("rxstream: nats: asynchronous error", "err", err)
	if sub == nil {
		return
	}
	b.mu.Lock()
	var hit *follow
	for f := range b.follows {
		if f.sub == sub {
			hit = f
		}
	}
	b.mu.Unlock()
	if hit != nil {
		hit.fail(fmt.Errorf("rxstream: nats: follow of %s: %w", hit.subject, err))
	}
}
