package websocket

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/park"
	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [Options].
const (
	DefaultReadLimit    = 32 << 10
	DefaultPingInterval = 25 * time.Second
	DefaultPongTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultCloseTimeout = 5 * time.Second
	DefaultMaxBatch     = 128
	DefaultWriteDelay   = 0
	DefaultInboundQueue = 16
)

// Producer makes the outbound observable of a one-way connection
// ([Server.Stream]) for one request, before the upgrade. r's context is
// the connection's lifetime: build every rxgo stage with
// rxgo.WithContext(r.Context()), or use the streams package. cursor is
// the client's resume cursor (the cursor or lastEventId query parameter,
// or a Last-Event-ID header), empty on a first connection. r must not be
// kept after Producer returns. A non-nil error answers the request
// instead of upgrading it: a [*StatusError] with its status, any other
// error 500.
type Producer = transport.Producer

// StatusError is an HTTP status with a message: what a [Producer],
// [Handler] or authorization hook returns to refuse a request with a
// status of its choosing (the server answers it as the JSON
// {"message": ...}); what a [Client] returns for a handshake the server
// refused with a status that reconnecting will not fix (4xx); and the
// error item of a [MultiClient]'s subscription the server refused, with
// Topic set.
type StatusError = transport.StatusError

// Hooks are the optional callbacks of [Options.Hooks], the same on every
// transport. They run on the connection's goroutines: they must not
// block for long, and must not keep the request.
type Hooks = transport.Hooks

// Conn describes one connection to the [Hooks] and [Options.OnMessage]:
// Transport is "websocket", Subprotocol the negotiated subprotocol, and
// Topics the hub topics of its URL (nil for [Server.Stream] and
// [Server.Duplex]). Its fields are set before Opened and must not be
// modified.
type Conn = transport.Conn

// Why a connection ended, as [Hooks.Closed] is told (match them with
// errors.Is); any other reason is the error that ended it: an error item
// or an item that cannot be sent, [framework.ErrOverflow] for a
// subscriber whose queue overflowed, the hub closing, an inbound message
// over the read limit (coder/websocket's ErrMessageTooBig).
var (
	// ErrCompleted: the outbound observable completed (closed with 1000).
	ErrCompleted = transport.ErrCompleted
	// ErrClientGone: the peer closed the connection, and the reason
	// wraps its [CloseError] (errors.As gives its code); or the peer
	// vanished without a closing handshake (no pong, a write that failed
	// or timed out, the connection reset), and the reason wraps that
	// error.
	ErrClientGone = transport.ErrClientGone
	// ErrShutdown: [Server.Close] closed the connection (with 1001).
	ErrShutdown = transport.ErrShutdown
	// ErrExpired: the authorization hook's answer expired (see
	// adapters.ExpiresAt), or a refresh was refused with 401 (closed with
	// [StatusExpired]).
	ErrExpired = transport.ErrExpired
	// ErrRevoked: the [Gate] revoked the connection's user or topic, or
	// a refresh no longer grants its topic (closed with [StatusRevoked]).
	ErrRevoked = transport.ErrRevoked
)

// Gate admits the connections of one or more servers and ends them (see
// [Options.Gate]): the same type as adapters.Gate, which documents it and
// whose NewGate makes one with options.
type Gate = transport.Gate

// Format says how outbound events are framed.
type Format int

const (
	// FormatEnvelope sends each event as the JSON envelope
	// {"id","event","data"} in a text frame (the default). Data that is not
	// UTF-8 is carried base64-encoded with "base64": true. Gap notices are
	// envelopes named "gap" whose data is {"last","next"}.
	FormatEnvelope Format = iota + 1
	// FormatText sends each event's data alone in a text frame (a binary
	// frame when the data is not UTF-8). IDs, names and gap notices are not
	// sent: it suits per-request producers, not resumable hub topics.
	FormatText
	// FormatBinary sends each event's data alone in a binary frame, with the
	// same limits as FormatText.
	FormatBinary
)

// Options configures a [Server]. The zero value means defaults.
type Options struct {
	// OriginPatterns lists the origins allowed besides the request's own
	// host, as host patterns matched with path.Match ("*.example.com"), or
	// "scheme://host" patterns. A request from another origin is answered
	// 403. Requests without an Origin header (non-browser clients) are
	// always allowed.
	OriginPatterns []string
	// InsecureSkipVerify allows every origin: any web page can then open a
	// connection with the visitor's cookies (cross-site WebSocket
	// hijacking). It is what Spring's setAllowedOrigins("*") does; prefer
	// OriginPatterns.
	InsecureSkipVerify bool
	// Subprotocols lists the subprotocols the server negotiates, in order of
	// preference.
	Subprotocols []string
	// Format frames outbound events; 0 means [FormatEnvelope]. An outbound
	// item of type [Message] is always sent as it is. [Server.Topics]
	// always sends envelopes, which name their topic.
	Format Format
	// ReadLimit bounds the size of an inbound message in bytes; a larger one
	// closes the connection with 1009 (message too big). 0 means
	// [DefaultReadLimit].
	ReadLimit int64
	// PingInterval is the interval of the pings that detect a dead peer; 0
	// means [DefaultPingInterval], negative turns pings off.
	PingInterval time.Duration
	// PongTimeout is how long a ping waits for its pong before the
	// connection is dropped; 0 means [DefaultPongTimeout].
	PongTimeout time.Duration
	// WriteTimeout bounds each write: a peer that stops reading is
	// dropped after between half of it and all of it (the deadline is
	// renewed only when less than half is left). 0 means
	// [DefaultWriteTimeout], negative means no deadline.
	WriteTimeout time.Duration
	// CloseTimeout bounds the closing handshake (sending the close frame and
	// waiting for the peer's); 0 means [DefaultCloseTimeout].
	CloseTimeout time.Duration
	// MaxBatch bounds how many events a hub topic's connection takes from
	// its subscription at a time (each is still its own frame); 0 means
	// [DefaultMaxBatch].
	MaxBatch int
	// WriteDelay, when positive, holds a hub topic's first event after
	// an idle spell for that long before it is written, so that the
	// events published meanwhile share its write (one system call):
	// fewer writes per delivery under load, for up to WriteDelay more
	// latency. 0 means [DefaultWriteDelay], negative none.
	WriteDelay time.Duration
	// MaxTopics bounds the topics one connection to [Server.Topics]
	// follows, those of its URL and those it subscribes to later; 0 means
	// 64.
	MaxTopics int
	// InboundQueue bounds the inbound messages read ahead of a [Handler]'s
	// pipeline; when it is full the server stops reading (TCP backpressure).
	// 0 means [DefaultInboundQueue].
	InboundQueue int
	// Hooks are optional callbacks about the connections, as on every
	// transport: Opened once a connection is upgraded; Error for what
	// ends one abnormally (a producer's error, an overflowing
	// subscriber, a write that failed or timed out, a ping without pong,
	// an oversized or malformed inbound message, a peer that vanished
	// without a closing handshake); Closed once per upgraded connection,
	// with why it ended (see [CloseCode] for its close code).
	Hooks Hooks
	// Gate admits the connections and ends them: the connect rate per
	// address (a handshake beyond it is answered 429 with a
	// Retry-After), the per-address and per-user limits (the connection
	// is upgraded and closed at once, with 1013 and 1008), the expiry of
	// the authorization hook's answers (closed with [StatusExpired]) and
	// revocation ([StatusRevoked]). nil means a Gate of the server's own
	// with default limits (see [Server.Gate]); share one Gate between the
	// servers of a process so that its limits count every transport.
	Gate *Gate
	// OnMessage, when set, is called for every inbound data message, in
	// the connection's read loop, before a [Handler]'s pipeline or a
	// [Server.Topics] connection sees it: it must not block for long
	// (it delays the reading of the next message), and m.Data must not
	// be modified.
	OnMessage func(c *Conn, m Message)
	// Logger receives a line per connection that ends abnormally; nil means
	// slog.Default().
	Logger *slog.Logger
	// Park, when set, holds each connection to hub topics ([Server.Topic],
	// [Server.Topics]) over HTTP/1.1 without TLS, on Linux, without a
	// goroutine or buffers of its own: the server answers the handshake
	// itself on the hijacked connection and hands it to one poller, which
	// watches every parked socket for the client's frames and hang-up, and
	// a few shared writers (see the package doc): 7.8 KiB and no
	// goroutine per idle connection instead of 33.5 KiB and two. It is off
	// by default, like SSE's: a fan-out waits in the shared writers'
	// queue, p99 53 against 26 ms at 100 subscribers x 64 B and 461
	// against 371 ms at 1,000 (for 499 k against 522 k and 274 k against
	// 206 k deliveries/s); at 10,000 it is faster (175 k against 26.7 k
	// deliveries/s, p99 1.2 against 2.3 s; the benchmarks' fan-out, 3
	// repetitions, medians).
	//
	// What changes on a parked connection: OnMessage, and the
	// authorization hook of a subscribe or refresh message, run on a
	// shared writer (they must not block, and a Hub.Publish there may
	// wait up to HubOptions.PaceWait while its topic's subscribers are
	// behind: publish from a goroutine of your own); control messages are served as
	// they are read rather than one between two batches; a ping is sent
	// once the connection has written nothing for PingInterval, and at its
	// next write after PingInterval otherwise; no extension is negotiated
	// (nor on today's path: permessage-deflate is never offered back);
	// WriteDelay is not applied. A connection the poller cannot watch (a
	// wrapped listener's), and one whose handshake today's path refuses,
	// keep today's path.
	Park bool
}

// Server serves WebSocket connections as net/http handlers: per-request
// producers ([Server.Stream]), duplex handlers ([Server.Duplex]) and hub
// topics ([Server.Topic], [Server.Topics]). It tracks its open
// connections, so [Server.Close] can close them all at shutdown.
//
// The zero Server is ready to use with default options. All methods may be
// called concurrently.
type Server struct {
	opts  Options
	conns transport.Registry
	// served counts the requests being served: the registry forgets its
	// streams at Close, while their handlers still run.
	served atomic.Int64
	gate   transport.Gate // when Options.Gate is nil

	loopOnce sync.Once
	parkLoop *park.Loop // see Server.loop
}

// New returns a Server with the given options; opts may be nil. It fails
// when an option is out of range.
func New(opts *Options) (*Server, error) {
	s := &Server{}
	if opts != nil {
		s.opts = *opts
		s.opts.OriginPatterns = append([]string(nil), opts.OriginPatterns...)
		s.opts.Subprotocols = append([]string(nil), opts.Subprotocols...)
	}
	o := &s.opts
	if o.ReadLimit < 0 || o.PongTimeout < 0 || o.CloseTimeout < 0 || o.MaxBatch < 0 || o.InboundQueue < 0 || o.MaxTopics < 0 {
		return nil, errors.New("rxstream: websocket: negative ReadLimit, PongTimeout, CloseTimeout, MaxBatch, InboundQueue or MaxTopics")
	}
	if o.Format < 0 || o.Format > FormatBinary {
		return nil, errors.New("rxstream: websocket: unknown Format")
	}
	for _, p := range o.OriginPatterns {
		if err := validPattern(p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) options() Options {
	o := s.opts
	if o.Format == 0 {
		o.Format = FormatEnvelope
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = DefaultReadLimit
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PongTimeout == 0 {
		o.PongTimeout = DefaultPongTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.WriteDelay == 0 {
		o.WriteDelay = DefaultWriteDelay
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.InboundQueue == 0 {
		o.InboundQueue = DefaultInboundQueue
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Close closes every open connection with 1001 (going away) and answers
// later requests 503 with a Retry-After. It returns at once; each
// connection's handler returns when its closing handshake is done (at
// most [Options.CloseTimeout]). Register it with the http.Server, whose
// Shutdown does not wait for hijacked connections:
//
//	srv.RegisterOnShutdown(wsServer.Close)
func (s *Server) Close() { s.conns.Close() }

// Connections returns the number of requests being served: the open
// connections, and the requests still deciding whether to upgrade.
func (s *Server) Connections() int { return int(s.served.Load()) }

// Gate returns the server's [Gate]: [Options.Gate], or the server's own.
// Its Revoke and RevokeTopic end the server's connections.
func (s *Server) Gate() *Gate {
	if s.opts.Gate != nil {
		return s.opts.Gate
	}
	return &s.gate
}

// Handler makes the outbound observable of a duplex connection from its
// inbound one, before the upgrade, as a [Producer] does. r's context is
// the connection's lifetime; r must not be kept after Handler returns.
// in emits a [Message] per inbound message and completes when the peer
// stops sending (it may be observed once). Inbound messages are read
// ahead up to [Options.InboundQueue]; then the server stops reading
// until the pipeline catches up. The returned observable's completion,
// errors and items are handled as for [Server.Stream]; a Handler that
// returns in's transformation ends the connection when the peer does.
type Handler func(r *http.Request, in rxgo.Observable) (rxgo.Observable, error)

// Stream returns a handler that upgrades each request and sends the
// observable p makes for it, one message per item. p runs before the
// upgrade, after the checks of [Server]: its error answers the request
// instead (a [*StatusError] with its status, any other error 500). Items
// may be [framework.Event], [framework.Gap], [Message] (sent as it is,
// whatever [Options.Format]), or a string or []byte (the event's data);
// an item that cannot be sent closes the connection with 1011, as an
// error item does (1013 for [framework.ErrOverflow]); completion closes
// it with 1000. Inbound messages reach [Options.OnMessage]; a refresh
// message with a new token (see the package doc) also moves the
// connection's expiry. A [Server.Duplex] connection takes no refresh: its
// messages are its handler's, and it ends at the expiry.
func (s *Server) Stream(p Producer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, r, ok := s.prepare(w, r, false, false)
		if !ok {
			return
		}
		defer cn.release()
		cursor, ok := requestCursor(w, r)
		if !ok || !cn.admit(w, r, nil) {
			return
		}
		r = r.WithContext(cn.ctx)
		obs, err := p(r, cursor)
		if cn.refused(w, obs, err) {
			return
		}
		cn.open(r, cursor, nil)
		cn.ctl = make(chan control, controlQueue) // refresh messages
		if cn.accept(w, r) {
			// The handler returns after serve: r stays valid for the
			// guard of refresh messages.
			cn.serve(cn.itemsWriter(obs))
		}
	})
}

// Duplex returns a handler that upgrades each request and connects its
// inbound messages to h's outbound observable: Spring's
// WebSocketHandler, the reactive way. h runs before the upgrade and is
// answered as a [Producer] is by [Server.Stream].
func (s *Server) Duplex(h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, r, ok := s.prepare(w, r, false, false)
		if !ok {
			return
		}
		defer cn.release()
		cursor, ok := requestCursor(w, r)
		if !ok || !cn.admit(w, r, nil) {
			return
		}
		r = r.WithContext(cn.ctx)
		in := cn.inbound()
		obs, err := h(r, in)
		if cn.refused(w, obs, err) {
			return
		}
		cn.open(r, cursor, nil)
		if cn.accept(w, r) {
			cn.serve(cn.itemsWriter(obs))
		}
	})
}

// Topic returns a handler that upgrades each request and sends the hub
// topic that name picks from it, such as
//
//	func(r *http.Request) string { return r.PathValue("topic") }
//
// for a pattern "GET /topics/{topic}/ws", resuming after the client's
// cursor (the cursor or lastEventId query parameter, or the
// Last-Event-ID header, which wins). A malformed cursor or topic name is
// answered 400; a topic or hub at its limits, or a broker that is down,
// 503 with a jittered Retry-After. A subscriber whose queue overflows is
// closed with 1013 (try again later): it reconnects with its last ID and
// catches up from history. Every close but 1000 carries the cursor to
// resume from at the start of its reason ([ReasonCursor]). Events are
// framed by [Options.Format] (gap notices need [FormatEnvelope]). Inbound
// messages reach [Options.OnMessage]; a refresh message with a new token
// (see the package doc) also moves the connection's expiry, and every
// other message is ignored.
func (s *Server) Topic(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	return s.topics(hub, session.Options{Name: name})
}

// Topics returns a handler that upgrades each request and sends several
// hub topics over its one connection: those of its repeated topic query
// parameters (?topic=a&topic=b, at most [Options.MaxTopics]), each
// resuming after its own position in the client's composite cursor
// ("EPOCH:SEQ,SEQ,..." in the topics' order, under the same spellings as
// for [Server.Topic]), and those the client subscribes to later.
//
// The request is refused as for [Server.Topic] (400, the authorization
// hook's 401 or 403 naming the topic, 503) when one of its URL's topics
// is. After the upgrade every message is a JSON text frame, whatever
// [Options.Format]: first one {"type":"subscribed","topic","cursor"} per
// URL topic, in order, with the topic's own cursor it starts from; then
// the events as envelopes that name their topic and carry the event's own
// ID ({"topic","id","event","data"}), and gap notices as envelopes named
// "gap" with the topic's cursor as id when no event of it follows.
//
// The client may send, at any time, {"type":"subscribe","topic","cursor"}
// (the topic's own cursor; empty or absent starts with its next live
// event, after the topic's last "rewind" events or those of the last
// "since", as the URL's rewind and since parameters ask for the URL's
// topics), answered {"type":"subscribed",...} before any of its events, and
// {"type":"unsubscribe","topic"}, answered {"type":"unsubscribed","topic"}
// after the last of its events (also when it was not subscribed), and
// {"type":"refresh","token"}, answered {"type":"refreshed","expires"}
// (see the package doc for the refusals). A
// subscription that is refused is answered {"type":"error","topic",
// "status","message"} with the status an HTTP request would get (400 for
// an invalid topic or cursor, a topic already followed or one past
// MaxTopics; the hook's 401 or 403; 503), and the connection goes on; a
// message that is not JSON, of an unknown type or without a topic,
// {"type":"error","status":400,"message"}. The write loop serves these
// messages one between two batches of events; a client that sends them
// faster waits (TCP backpressure). Every inbound message also reaches
// [Options.OnMessage].
//
// Order is kept per topic; across topics only arrival order. Close codes
// are those of [Server.Topic], but the close reason carries no cursor:
// the client resumes each topic from the last ID it saw (or its
// subscribed cursor), in a composite cursor ":ID1,ID2,..." on the URL or
// in subscribe messages.
func (s *Server) Topics(hub *framework.Hub) http.Handler {
	return s.topics(hub, session.Options{MaxTopics: s.opts.MaxTopics})
}

func (s *Server) topics(hub *framework.Hub, o session.Options) http.Handler {
	o.Retry = transport.DefaultRetryAfter
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parking := s.parkable(r, o)
		cn, r, ok := s.prepare(w, r, true, parking)
		if !ok {
			return
		}
		// handed is set once the connection is parked: its loop then
		// does what these defers do.
		handed := false
		defer func() {
			if !handed {
				cn.release()
			}
		}()
		so := o
		var pk *parked
		if parking {
			pk = &parked{cn: cn}
			pk.c = s.loop().Hold(pk)
			so.Notify = pk.c.Wake
		}
		sess, cursor, err := session.Open(r, hub, so)
		if err != nil {
			transport.WriteError(w, err, o.Retry)
			return
		}
		defer func() {
			if !handed {
				sess.Close()
			}
		}()
		names, _ := sess.Topics()
		if !cn.admit(w, r, names) {
			return
		}
		cn.open(r, cursor, names)
		cn.mux = sess.Multi()
		if pk != nil {
			pk.sess = sess
			if handed, w = pk.hand(w, r); handed {
				return
			}
			if hj, ok := w.(*hijacked); ok {
				defer hj.nc.Close() // today's path closes it once upgraded, but not a refusal
			}
		}
		cn.ctl = make(chan control, controlQueue) // subscribe, unsubscribe, refresh
		if cn.accept(w, r) {
			// The handler returns after serve: r stays valid for the
			// guard of subscribe and refresh messages.
			cn.serve(cn.sessionWriter(sess))
		}
	})
}
