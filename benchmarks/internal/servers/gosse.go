package servers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	gosse "github.com/tmaxmax/go-sse"
)

func init() {
	register(Contender{Name: "go-sse", Transport: SSE, Kind: Peer, New: newGoSSE})
}

// goSSE serves github.com/tmaxmax/go-sse with its default provider (Joe)
// and no replayer. It sends the response headers with the first event.
type goSSE struct{ s *gosse.Server }

func newGoSSE() (Server, error) {
	s := &gosse.Server{Provider: &gosse.Joe{}}
	return &goSSE{s: s}, nil
}

func (p *goSSE) Handler() http.Handler { return p.s }

func (p *goSSE) Publish(_ context.Context, seq int, payload []byte) error {
	m := &gosse.Message{ID: gosse.ID(strconv.Itoa(seq))}
	m.AppendData(string(payload))
	return p.s.Publish(m)
}

func (p *goSSE) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.s.Shutdown(ctx)
}

var _ Server = (*goSSE)(nil)
