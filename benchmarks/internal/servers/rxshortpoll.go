package servers

import "github.com/rxstream/rxstream/adapters/shortpoll"

func init() {
	register(Contender{Name: "rxstream-shortpoll", Transport: ShortPoll, Kind: Rxstream, New: newRxShortPoll})
}

func newRxShortPoll() (Server, error) {
	h, err := newRxHub()
	if err != nil {
		return nil, err
	}
	s, err := shortpoll.New(&shortpoll.Options{Gate: unlimited()})
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /sub", s.Topic(h.hub, topicName))
	h.stop = s.Close
	return h, nil
}
