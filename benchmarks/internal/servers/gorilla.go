package servers

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

func init() {
	register(Contender{Name: "gorilla-websocket", Transport: WebSocket, Kind: Peer, New: func() (Server, error) { return &gorillaWS{}, nil }})
}

// gorillaWS serves github.com/gorilla/websocket the way its chat example
// does: a writer loop per connection fed by a channel, and a reader
// goroutine that notices the close.
type gorillaWS struct {
	b  broadcaster
	up websocket.Upgrader
}

func (s *gorillaWS) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		gone := make(chan struct{})
		go func() {
			defer close(gone)
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
		sub := s.b.join()
		defer s.b.leave(sub)
		for {
			select {
			case msg := <-sub.ch:
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					return
				}
			case <-gone:
				return
			}
		}
	})
}

func (s *gorillaWS) Publish(ctx context.Context, seq int, payload []byte) error {
	return s.b.send(ctx, appendEnvelope(make([]byte, 0, len(payload)+32), seq, payload))
}

func (s *gorillaWS) Close() { s.b.close() }

var _ Server = (*gorillaWS)(nil)
