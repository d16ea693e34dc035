package servers

import "github.com/rxstream/rxstream/adapters/websocket"

func init() {
	register(Contender{Name: "rxstream-websocket", Transport: WebSocket, Kind: Rxstream, Mux: true, New: newRxWebSocket(false)})
	// The same server with websocket.Options.Park: its connections are
	// parked.
	register(Contender{Name: "rxstream-websocket-parked", Transport: WebSocket, Kind: Rxstream, Mux: true, New: newRxWebSocket(true)})
}

func newRxWebSocket(park bool) func() (Server, error) {
	return func() (Server, error) {
		h, err := newRxHub()
		if err != nil {
			return nil, err
		}
		s, err := websocket.New(&websocket.Options{Gate: unlimited(), WriteDelay: writeDelay(), Park: park})
		if err != nil {
			return nil, err
		}
		h.mount(s.Topic(h.hub, topicName), s.Topics(h.hub))
		h.stop, h.streams = s.Close, s.Connections
		return h, nil
	}
}
