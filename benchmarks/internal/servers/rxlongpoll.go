package servers

import "github.com/rxstream/rxstream/adapters/longpoll"

func init() {
	register(Contender{Name: "rxstream-longpoll", Transport: LongPoll, Kind: Rxstream, New: newRxLongPoll})
}

func newRxLongPoll() (Server, error) {
	h, err := newRxHub()
	if err != nil {
		return nil, err
	}
	s, err := longpoll.New(&longpoll.Options{Gate: unlimited()})
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /sub", s.Topic(h.hub, topicName))
	h.stop = s.Close
	return h, nil
}
