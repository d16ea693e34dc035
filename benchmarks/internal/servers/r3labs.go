package servers

import (
	"context"
	"net/http"
	"strconv"

	r3sse "github.com/r3labs/sse/v2"
)

func init() {
	register(Contender{Name: "r3labs-sse", Transport: SSE, Kind: Peer, New: newR3labs})
}

// r3labs serves github.com/r3labs/sse/v2 with replay off (its default
// replays the whole unbounded log to every new subscriber).
type r3labs struct{ s *r3sse.Server }

func newR3labs() (Server, error) {
	s := r3sse.New()
	s.AutoReplay = false
	s.CreateStream(Topic)
	return &r3labs{s: s}, nil
}

func (p *r3labs) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("stream", Topic)
		r.URL.RawQuery = q.Encode()
		r.Header.Del("Last-Event-ID") // it would parse ours, and has no replay on
		p.s.ServeHTTP(w, r)
	})
}

func (p *r3labs) Publish(_ context.Context, seq int, payload []byte) error {
	p.s.Publish(Topic, &r3sse.Event{ID: []byte(strconv.Itoa(seq)), Data: payload})
	return nil
}

func (p *r3labs) Close() { p.s.Close() }

var _ Server = (*r3labs)(nil)
