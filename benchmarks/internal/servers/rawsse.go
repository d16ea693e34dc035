package servers

import (
	"context"
	"net/http"
	"strconv"
)

func init() {
	register(Contender{Name: "raw-sse", Transport: SSE, Kind: Raw, New: func() (Server, error) { return newRawSSE(), nil }})
}

// rawSSE is the hand-written baseline: a net/http handler per subscriber
// writing pre-encoded events from its channel, coalescing what is queued
// into one flush. The publisher blocks on a full channel (no loss, no
// slow-client policy), as naive code does.
type rawSSE struct{ b broadcaster }

func newRawSSE() *rawSSE { return &rawSSE{} }

func (s *rawSSE) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if rc.Flush() != nil {
			return
		}
		sub := s.b.join()
		defer s.b.leave(sub)
		for {
			select {
			case msg := <-sub.ch:
				if _, err := w.Write(msg); err != nil {
					return
				}
				for more := true; more; {
					select {
					case msg = <-sub.ch:
						if _, err := w.Write(msg); err != nil {
							return
						}
					default:
						more = false
					}
				}
				if rc.Flush() != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	})
}

func (s *rawSSE) Publish(ctx context.Context, seq int, payload []byte) error {
	msg := make([]byte, 0, len(payload)+32)
	msg = append(msg, "id: "...)
	msg = strconv.AppendInt(msg, int64(seq), 10)
	msg = append(msg, "\ndata: "...)
	msg = append(msg, payload...)
	msg = append(msg, "\n\n"...)
	return s.b.send(ctx, msg)
}

func (s *rawSSE) Close() { s.b.close() }

var _ Server = (*rawSSE)(nil)
