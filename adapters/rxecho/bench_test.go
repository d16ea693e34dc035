package rxecho_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/framework"
)

// BenchmarkRouters serves one short-poll of a topic holding one event, in
// process, through a ServeMux and through echo with rxecho.Wrap: the cost
// the echo layer adds to a request.
func BenchmarkRouters(b *testing.B) {
	hub := &framework.Hub{}
	defer hub.Close()
	seen, _ := hub.Publish(context.Background(), "news", framework.Text("seen"))
	hub.Publish(context.Background(), "news", framework.Text("new"))
	sp := &shortpoll.Server{}
	defer sp.Close()
	h := sp.Topic(hub, adapters.Param("topic"))
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}/poll", h)
	e := echo.New()
	e.GET("/topics/:topic/poll", rxecho.Wrap(h))
	for _, r := range []struct {
		name string
		h    http.Handler
	}{{"net/http", mux}, {"echo", e}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/topics/news/poll?cursor="+seen, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
