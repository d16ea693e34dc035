package servers

import (
	"context"
	"net/http"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
)

// Topic is the one topic every rxstream contender serves.
const Topic = "bench"

func init() {
	// rxstream-sse is what sse.New(nil) serves: idle streams parked;
	// rxstream-sse-unparked keeps every stream on net/http's goroutines
	// (sse.Options.DisableParking), the path of the committed runs before
	// parking was the default, left out of the multiplexed scenarios.
	register(Contender{Name: "rxstream-sse", Transport: SSE, Kind: Rxstream, Mux: true, New: func() (Server, error) { return newRxSSE(true) }})
	register(Contender{Name: "rxstream-sse-unparked", Transport: SSE, Kind: Rxstream, New: func() (Server, error) { return newRxSSE(false) }})
}

// rxHub is what the rxstream contenders share: a default Hub and a
// ServeMux with GET /sub.
type rxHub struct {
	hub     *framework.Hub
	mux     *http.ServeMux
	stop    func()
	streams func() int // the open streams, when the server counts them
}

// Streams returns the server's open streams, parked ones included, and
// whether it counts them.
func (h *rxHub) Streams() (int, bool) {
	if h.streams == nil {
		return 0, false
	}
	return h.streams(), true
}

func newRxHub() (*rxHub, error) {
	hub, err := framework.NewHub(nil)
	if err != nil {
		return nil, err
	}
	return &rxHub{hub: hub, mux: http.NewServeMux()}, nil
}

func (h *rxHub) Handler() http.Handler { return h.mux }

func (h *rxHub) Publish(ctx context.Context, _ int, payload []byte) error {
	_, err := h.hub.Publish(ctx, Topic, framework.Event{Data: payload})
	return err
}

func (h *rxHub) PublishTopic(ctx context.Context, topic string, _ int, payload []byte) error {
	_, err := h.hub.Publish(ctx, topic, framework.Event{Data: payload})
	return err
}

// mount serves GET /sub with one, and with ?topic= the other.
func (h *rxHub) mount(one, topics http.Handler) {
	h.mux.HandleFunc("GET /sub", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("topic") {
			topics.ServeHTTP(w, r)
			return
		}
		one.ServeHTTP(w, r)
	})
}

func (h *rxHub) Close() {
	if h.stop != nil {
		h.stop()
	}
	_ = h.hub.Close()
}

func topicName(*http.Request) string { return Topic }

// unlimited is the Gate of the rxstream contenders: the load generator
// opens tens of thousands of connections from a few addresses, past the
// default limits per address and on the connect rate, and the peers have
// no such limits to compare with.
func unlimited() *adapters.Gate {
	g, err := adapters.NewGate(&adapters.GateOptions{MaxPerUser: -1, MaxPerAddress: -1, ConnectRate: -1})
	if err != nil {
		panic(err) // the options are valid
	}
	return g
}

// newRxSSE serves the topic on adapters/sse, its idle streams parked or
// (sse.Options.DisableParking) kept on net/http's goroutines.
func newRxSSE(park bool) (Server, error) {
	h, err := newRxHub()
	if err != nil {
		return nil, err
	}
	s, err := sse.New(&sse.Options{Gate: unlimited(), WriteDelay: writeDelay(), Heartbeat: heartbeat(), DisableParking: !park})
	if err != nil {
		return nil, err
	}
	h.mount(s.Topic(h.hub, topicName), s.Topics(h.hub))
	h.stop, h.streams = s.Close, s.Connections
	return h, nil
}

var _ Multiplexer = (*rxHub)(nil)
