package servers

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

func init() {
	register(Contender{Name: "raw-websocket", Transport: WebSocket, Kind: Raw, New: func() (Server, error) { return &rawWS{}, nil }})
}

// rawWS is the hand-written WebSocket baseline on bare coder/websocket: a
// text frame per pre-encoded envelope, written from the subscriber's channel.
type rawWS struct{ b broadcaster }

func (s *rawWS) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := c.CloseRead(r.Context())
		sub := s.b.join()
		defer s.b.leave(sub)
		for {
			select {
			case msg := <-sub.ch:
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Write(wctx, websocket.MessageText, msg)
				cancel()
				if err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
}

func (s *rawWS) Publish(ctx context.Context, seq int, payload []byte) error {
	return s.b.send(ctx, appendEnvelope(make([]byte, 0, len(payload)+32), seq, payload))
}

func (s *rawWS) Close() { s.b.close() }

var _ Server = (*rawWS)(nil)
