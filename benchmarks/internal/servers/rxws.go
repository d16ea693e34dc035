package servers

import "github.com/rxstream/rxstream/adapters/websocket"

func init() {
	register(Contender{Name: "rxstream-websocket", Transport: WebSocket, Kind: Rxstream, Mux: true, New: newRxWebSocket})
}

func newRxWebSocket() (Server, error) {
	h, err := newRxHub()
	if err != nil {
		return nil, err
	}
	s, err := websocket.New(&websocket.Options{Gate: unlimited(), WriteDelay: writeDelay()})
	if err != nil {
		return nil, err
	}
	h.mount(s.Topic(h.hub, topicName), s.Topics(h.hub))
	h.stop = s.Close
	return h, nil
}
