package servers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Transport is the wire a contender speaks.
type Transport int

// The transports.
const (
	SSE Transport = iota + 1
	LongPoll
	ShortPoll
	WebSocket
)

// String returns the transport's short name.
func (t Transport) String() string {
	switch t {
	case SSE:
		return "sse"
	case LongPoll:
		return "longpoll"
	case ShortPoll:
		return "shortpoll"
	case WebSocket:
		return "websocket"
	}
	return "transport(" + strconv.Itoa(int(t)) + ")"
}

// Kind says who wrote a contender.
type Kind int

// The kinds of contender.
const (
	// Rxstream is the library under test.
	Rxstream Kind = iota + 1
	// Raw is a hand-written baseline on net/http or coder/websocket.
	Raw
	// Peer is another library.
	Peer
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Rxstream:
		return "rxstream"
	case Raw:
		return "raw"
	case Peer:
		return "peer"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Server is one contender's server: a handler for GET /sub that streams (or
// answers polls for) a single topic, and the publisher of that topic.
//
// The wire is the contender's own, but the payloads are the same bytes
// everywhere; on the JSON transports every event is an envelope
// {"id":..,"data":..}, and poll answers are {"events":[..],"cursor":..}.
type Server interface {
	// Handler serves GET /sub.
	Handler() http.Handler
	// Publish sends one event to every subscriber. seq is its sequence
	// number (1, 2, ...; 0 for warm-up events), payload its data.
	Publish(ctx context.Context, seq int, payload []byte) error
	// Close ends every stream.
	Close()
}

// Multiplexer is a Server that also serves GET /sub?topic=A&topic=B...:
// several topics on one connection, on the multiplexed wire of its
// transport. A request without a topic parameter is the single-topic wire
// of [Server], on [TopicName](0).
type Multiplexer interface {
	Server
	// PublishTopic sends one event to every subscriber of the topic.
	PublishTopic(ctx context.Context, topic string, seq int, payload []byte) error
}

// TopicName returns the name of the i-th topic of a multiplexed scenario;
// TopicName(0) is the one topic of the single-topic wire.
func TopicName(i int) string {
	if i == 0 {
		return Topic
	}
	return Topic + "-" + strconv.Itoa(i)
}

// Contender is one entry of a comparison.
type Contender struct {
	// Name identifies the contender on the command line and in reports.
	Name      string
	Transport Transport
	Kind      Kind
	// Mux says the server also serves multiplexed requests (see
	// [Multiplexer]) and so takes part in the scenarios that follow several
	// topics per connection.
	Mux bool
	// New makes the server, in the server process.
	New func() (Server, error)
}

var registry []Contender

// register adds c; each contender's file calls it from init.
func register(c Contender) {
	if _, ok := Lookup(c.Name); ok {
		panic(fmt.Sprintf("servers: %s registered twice", c.Name))
	}
	registry = append(registry, c)
}

// All returns every contender, ordered by transport, then rxstream, raw,
// peers, then name.
func All() []Contender {
	out := slices.Clone(registry)
	slices.SortFunc(out, func(a, b Contender) int {
		if a.Transport != b.Transport {
			return int(a.Transport - b.Transport)
		}
		if a.Kind != b.Kind {
			return int(a.Kind - b.Kind)
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

// Lookup returns the contender of that name.
func Lookup(name string) (Contender, bool) {
	for _, c := range registry {
		if c.Name == name {
			return c, true
		}
	}
	return Contender{}, false
}
