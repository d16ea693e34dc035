package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/presence"
)

// Defaults of [Options].
const (
	DefaultURL           = "redis://127.0.0.1:6379"
	DefaultPrefix        = "rxstream"
	DefaultTimeout       = 5 * time.Second
	DefaultReconnectWait = time.Second
	DefaultHeartbeat     = 5 * time.Second
)

// Errors of a [Broker].
var (
	// ErrUnavailable is wrapped by the errors of a Broker that cannot reach
	// Redis, or that Redis cannot serve now (loading its data after a
	// restart, a failover in progress, out of memory): Publish, Read and
	// Follow while the connection is down, and the error that ends every
	// Follow when the connection drops.
	ErrUnavailable = errors.New("rxstream: redis: unavailable")
	// ErrUnsupported is returned by [New] for a Redis Cluster client
	// without Options.HashTag, and for a Redis server older than 6.2.
	ErrUnsupported = errors.New("rxstream: redis: unsupported")
)

// Options configures a [Broker]. The zero value means defaults.
type Options struct {
	// URL is the Redis server, as go-redis's ParseURL reads it:
	// "redis://[[user]:password@]host:port[/db]", or "rediss://" for TLS;
	// "" means [DefaultURL]. Ignored when Redis is set.
	URL string
	// Redis, when set, configures the connection instead of URL: the
	// options of go-redis's universal client: Addrs and MasterName for
	// Redis Sentinel, several Addrs (or IsClusterMode) for Redis Cluster,
	// which needs HashTag. The Broker copies them and overrides MaxRetries
	// (no retries: a publish retried after a lost answer would store its
	// event twice), DialerRetries (one attempt, so that an outage is seen
	// at once) and ContextTimeoutEnabled (on, so that Timeout bounds every
	// request).
	Redis *redis.UniversalOptions
	// Name is the connections' name, as CLIENT LIST shows it.
	Name string
	// Prefix starts every key name: topic T is the stream "<Prefix>:{T}"
	// (see [TopicKeys]); "" means [DefaultPrefix]. Up to 64 bytes of
	// printable ASCII without spaces or braces.
	Prefix string
	// HashTag, when set, is the hash tag of every topic's keys instead of
	// the topic: topic T is the stream "<Prefix>:{<HashTag>}:T". All the
	// topics then live in one slot of a Redis Cluster, so that the node's
	// one blocking XREAD can follow them all (a multi-key command must name
	// keys of one slot); the cost is that one cluster node holds and
	// serves every topic of the Broker's. Required for Redis Cluster; on a
	// single Redis or Sentinel it changes only the key names. The same
	// rules as Prefix.
	HashTag string
	// MaxLen is how many events each topic retains, at least: a publish
	// trims the topic's stream with XADD MAXLEN ~, which removes whole
	// nodes of the stream only (Redis's stream-node-max-entries, 100 by
	// default), so a topic holds from MaxLen to about MaxLen+100 events.
	// 0 means [framework.DefaultMaxEvents].
	MaxLen int64
	// MaxAge is how long an event is retained; 0 means
	// [framework.DefaultMaxAge]. A publish trims the topic's older events
	// (XTRIM MINID), and Read never returns an event older than MaxAge, by
	// Redis's clock, even from a topic that was not published to since.
	MaxAge time.Duration
	// TopicTTL, when set, makes a topic's keys expire TopicTTL after its
	// last publish, while no node follows it: a topic published to again
	// later starts a new epoch (its old cursors get a gap notice). It must
	// be at least MaxAge and twice the Heartbeat. 0 keeps every topic's
	// keys for good; an idle topic then costs Redis its retained events,
	// an empty stream and a small hash.
	TopicTTL time.Duration
	// KeyWindow is how long an idempotency key of a publish through a
	// [framework.Hub] (see [Broker.PublishKeyed]) is remembered; 0 means
	// [framework.DefaultKeyWindow].
	KeyWindow time.Duration
	// Timeout bounds every request to Redis when the caller's context has
	// no earlier deadline; 0 means [DefaultTimeout].
	Timeout time.Duration
	// ReconnectWait is the delay between attempts to reach Redis again
	// while it is down; 0 means [DefaultReconnectWait].
	ReconnectWait time.Duration
	// Heartbeat is how often the node's follow connection checks that the
	// followed topics still have the epoch they were followed with (a
	// deleted or recreated topic ends its Follow) and that Redis answers;
	// it is also the longest its blocking read waits. A Redis that stops
	// answering without closing the connection (a host gone, a network
	// cut) is seen within Heartbeat plus 10 seconds (go-redis's margin on
	// a blocking read), or at the first request that fails. 0 means
	// [DefaultHeartbeat].
	Heartbeat time.Duration
	// PresenceTTL bounds how long the members of a node that died (killed,
	// or cut off from Redis) stay listed on the other nodes, which then
	// announce their leaves ([framework.PresenceBroker]); 0 means
	// [DefaultPresenceTTL]. A node puts its heartbeat every PresenceTTL/4;
	// one not heard of for PresenceTTL/2 is taken for dead. At least
	// 100ms; every node must be given the same.
	PresenceTTL time.Duration
	// Logger receives the outages: Redis unreachable (Warn), reachable
	// again (Info), and each Follow that ended (Info); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Broker is a [framework.Broker] on Redis Streams, so that several
// processes serve the same topics: an event published on any node reaches
// the subscribers of every node, and a cursor issued by one node resumes
// on another.
//
// Each topic is a stream with a small hash beside it that holds its epoch;
// an event's cursor maps exactly to its stream ID (see [ToID]). Each node
// follows all its topics with one blocking XREAD on one connection of its
// own, however many topics and clients it serves; the [framework.Hub] fans
// out locally.
//
// When Redis cannot be reached, every Follow ends with an error wrapping
// [ErrUnavailable] (the Hub ends the topics' subscriptions, whose clients
// reconnect and resume from history), and Publish, Read and Follow fail at
// once with it until the Broker reached Redis again, tried every
// ReconnectWait. A follow connection that dropped but is renewed at once
// (Redis restarted with its data, an idle connection closed by a proxy)
// ends no Follow.
//
// It is built on a go-redis *redis.Client: a single Redis, or the master
// that Redis Sentinel names; Redis Cluster is not supported (see the
// package documentation).
//
// All methods may be called concurrently.
type Broker struct {
	opts  Options // read-only after New
	log   *slog.Logger
	rdb   redis.UniversalClient // a *redis.Client, or a *redis.ClusterClient with HashTag
	rdr   redis.UniversalClient // the follow connection's own client: no read timeout
	slot  string                // a key of the topics' slot, in a cluster
	ttlMS int64                 // TopicTTL in milliseconds

	mu      sync.Mutex
	closed  bool
	down    error // why Redis is deemed unreachable; nil when it answers
	topics  map[string]*followed
	listens map[*redis.PubSub]struct{} // the Listens not stopped
	gen     uint64                     // incremented when the followed topics change
	blocked int64                      // the follow connection's client ID while it waits in XREAD with gen snapGen
	snapGen uint64
	node    *redis.Client // the pool of the follow connection's server, for CLIENT UNBLOCK

	pres     *presence.Node
	kick     chan struct{} // wakes the reader (size one)
	wake     chan struct{} // asks the unblocker to end the reader's XREAD (size one)
	quit     chan struct{} // closed by Close
	readDone chan struct{} // closed when the reader returned
	wg       sync.WaitGroup
}

var _ framework.Broker = (*Broker)(nil)

// New connects to Redis and returns the Broker; opts may be nil. It fails
// when an option is out of range, when Redis cannot be reached (an error
// wrapping [ErrUnavailable]), and with [ErrUnsupported] for a Cluster
// client or a server older than 6.2. ctx bounds the setup.
func New(ctx context.Context, opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"MaxAge", o.MaxAge}, {"TopicTTL", o.TopicTTL}, {"KeyWindow", o.KeyWindow}, {"Timeout", o.Timeout}, {"ReconnectWait", o.ReconnectWait}, {"Heartbeat", o.Heartbeat}} {
		if d.value < 0 {
			return nil, fmt.Errorf("rxstream: redis: negative %s %v", d.name, d.value)
		}
	}
	if o.MaxLen < 0 {
		return nil, fmt.Errorf("rxstream: redis: negative MaxLen %d", o.MaxLen)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !validPrefix(o.Prefix) {
		return nil, fmt.Errorf("rxstream: redis: invalid Prefix %q: want up to 64 bytes of printable ASCII without spaces or braces", o.Prefix)
	}
	if o.HashTag != "" && !validPrefix(o.HashTag) {
		return nil, fmt.Errorf("rxstream: redis: invalid HashTag %q: want up to 64 bytes of printable ASCII without spaces or braces", o.HashTag)
	}
	if o.MaxLen == 0 {
		o.MaxLen = framework.DefaultMaxEvents
	}
	if o.MaxAge == 0 {
		o.MaxAge = framework.DefaultMaxAge
	}
	if o.KeyWindow == 0 {
		o.KeyWindow = framework.DefaultKeyWindow
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
		return nil, fmt.Errorf("rxstream: redis: PresenceTTL %v is shorter than 100ms", o.PresenceTTL)
	}
	if o.TopicTTL > 0 && (o.TopicTTL < o.MaxAge || o.TopicTTL < 2*o.Heartbeat) {
		return nil, fmt.Errorf("rxstream: redis: TopicTTL %v below MaxAge %v or twice Heartbeat %v", o.TopicTTL, o.MaxAge, o.Heartbeat)
	}
	u, err := universal(o)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewUniversalClient(u)
	switch c := rdb.(type) {
	case *redis.Client:
	case *redis.ClusterClient:
		if o.HashTag == "" {
			c.Close()
			return nil, fmt.Errorf("%w: Redis Cluster (%d addresses) without Options.HashTag: a node's one blocking read cannot span hash slots", ErrUnsupported, len(u.Addrs))
		}
	default:
		rdb.Close()
		return nil, fmt.Errorf("%w: a %T", ErrUnsupported, rdb)
	}
	b := &Broker{
		opts:    o,
		log:     o.Logger,
		rdb:     rdb,
		slot:    o.Prefix + ":{" + o.HashTag + "}",
		ttlMS:   o.TopicTTL.Milliseconds(),
		topics:  make(map[string]*followed),
		listens: make(map[*redis.PubSub]struct{}),
		kick:    make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),

		readDone: make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.pres = presence.New(newPresenceHash(b), o.PresenceTTL, o.Timeout, o.ReconnectWait, b.log)
	if err := b.check(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	// The reader's blocking XREAD is bounded by its context's deadline
	// (the Heartbeat plus Timeout), not by a read timeout of the client's.
	r := *u
	r.PoolSize, r.MinIdleConns, r.MaxIdleConns, r.ReadTimeout = 1, 0, 1, -1
	b.rdr = redis.NewUniversalClient(&r)
	b.wg.Add(2)
	go b.read()
	go b.unblock()
	return b, nil
}

// universal returns the client options of o, with the Broker's overrides.
func universal(o Options) (*redis.UniversalOptions, error) {
	var u redis.UniversalOptions
	if o.Redis != nil {
		u = *o.Redis
		u.Addrs = append([]string(nil), o.Redis.Addrs...)
	} else {
		url := o.URL
		if url == "" {
			url = DefaultURL
		}
		p, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("rxstream: redis: URL: %w", err)
		}
		u = redis.UniversalOptions{
			Addrs: []string{p.Addr}, Username: p.Username, Password: p.Password, DB: p.DB,
			TLSConfig: p.TLSConfig, Protocol: p.Protocol, ClientName: p.ClientName,
			DialTimeout: p.DialTimeout, ReadTimeout: p.ReadTimeout, WriteTimeout: p.WriteTimeout,
			PoolSize: p.PoolSize,
		}
	}
	if o.Name != "" {
		u.ClientName = o.Name
	}
	u.MaxRetries = -1
	u.DialerRetries = 1
	u.ContextTimeoutEnabled = true
	if u.DialTimeout == 0 || u.DialTimeout > o.Timeout {
		u.DialTimeout = o.Timeout
	}
	return &u, nil
}

// check asks Redis for its version: 6.2 or later (XADD with an explicit
// ID and MINID trimming, XRANGE with an exclusive start).
func (b *Broker) check(ctx context.Context) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	info, err := b.rdb.Info(ctx, "server").Result()
	if err != nil {
		return b.unavailable(fmt.Errorf("connect: %w", err))
	}
	for line := range strings.SplitSeq(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		major, rest, _ := strings.Cut(v, ".")
		minor, _, _ := strings.Cut(rest, ".")
		ma, _ := strconv.Atoi(major)
		mi, _ := strconv.Atoi(minor)
		if ma < 6 || ma == 6 && mi < 2 {
			return fmt.Errorf("%w: Redis %s; want 6.2 or later", ErrUnsupported, v)
		}
	}
	return nil
}

// Client returns the Broker's Redis client, for monitoring: a
// *redis.Client, or a *redis.ClusterClient.
func (b *Broker) Client() redis.UniversalClient { return b.rdb }

// Close ends every Follow (without calling its fn, so close the Hub
// first) and every Listen, stops the follow connection and closes the
// client. Publish, Read and Follow then fail with [framework.ErrClosed].
// Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	topics, listens := b.topics, b.listens
	b.topics, b.listens = map[string]*followed{}, nil
	up := b.down == nil
	b.mu.Unlock()
	b.pres.Close(up)
	for _, t := range topics {
		t.end(nil)
	}
	for ps := range listens {
		_ = ps.Close()
	}
	close(b.quit)
	// End the reader's XREAD now rather than at its Heartbeat; it may be
	// on its way to Redis still, so until the reader returned.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		b.mu.Lock()
		blocked, node := b.blocked, b.node
		b.mu.Unlock()
		if blocked != 0 && node != nil {
			ctx, cancel := b.bound(context.Background())
			_ = node.ClientUnblock(ctx, blocked).Err()
			cancel()
		}
		select {
		case <-b.readDone:
			done = true
		case <-tick.C:
		}
	}
	b.wg.Wait()
	b.rdr.Close()
	return b.rdb.Close()
}

// bound returns ctx with the Broker's Timeout unless it ends earlier.
func (b *Broker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= b.opts.Timeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.opts.Timeout)
}

// usable fails at once after Close and while Redis is down.
func (b *Broker) usable() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.usableLocked()
}

func (b *Broker) usableLocked() error {
	if b.closed {
		return framework.ErrClosed
	}
	if b.down != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, b.down)
	}
	return nil
}

// unavailable wraps err in [ErrUnavailable] when Redis could not be
// reached or cannot serve now, and marks Redis down when the connection
// failed, so that the next calls fail at once until the reader reached it
// again. Other errors are returned as they are.
func (b *Broker) unavailable(err error) error {
	switch {
	case err == nil || errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, redis.ErrClosed):
		b.mu.Lock()
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return fmt.Errorf("%w (%w)", framework.ErrClosed, err)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case connectionError(err):
		b.markDown(err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded) || timeoutError(err) || busyError(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// connectionError reports an error of the connection itself (refused,
// reset, closed by the server), as opposed to a timeout or an error reply.
func connectionError(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && !ne.Timeout()
}

// timeoutError reports a network timeout (a deadline of the connection).
func timeoutError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// busyError reports an error reply that says Redis cannot serve now but
// may soon: loading its data, a failover or a cluster change in progress,
// a script running too long, out of memory.
func busyError(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, p := range []string{"LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "OOM", "NOREPLICAS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// markDown records that Redis cannot be reached and has the reader check
// it: the reader alone brings the Broker back up once Redis answers.
func (b *Broker) markDown(err error) {
	b.mu.Lock()
	was := b.down
	if !b.closed && b.down == nil {
		b.down = err
	}
	b.mu.Unlock()
	if was == nil {
		b.log.Warn("rxstream: redis: unreachable; failing fast until it answers", "err", err)
		b.signal(b.kick)
		b.signal(b.wake)
	}
}

func (b *Broker) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// newEpoch returns a candidate epoch for a topic being created: the time
// in milliseconds and four random characters, in base 36 (12 characters).
func newEpoch() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	r := make([]byte, 4)
	for i := range r {
		r[i] = digits[rand.IntN(len(digits))]
	}
	return strconv.FormatInt(time.Now().UnixMilli(), 36) + string(r)
}
