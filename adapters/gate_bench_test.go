package adapters_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/framework"
)

// BenchmarkGate: what the Gate costs a request, side by side on one
// short-poll answered at once (the cheapest request a Gate admits): no
// limits at all; the limits, per address (1,024 addresses in turn) and per
// user (the hook names one of 1,024), with a connect rate that none
// reaches; and the same with an expiry given by the hook.
func BenchmarkGate(b *testing.B) {
	hub := &framework.Hub{}
	defer hub.Close()
	seen, _ := hub.Publish(context.Background(), "news", framework.Text("seen"))
	hub.Publish(context.Background(), "news", framework.Text("new"))
	none := adapters.GateOptions{MaxPerUser: -1, MaxPerAddress: -1, ConnectRate: -1}
	limits := adapters.GateOptions{ConnectRate: 1e9}
	farFuture := time.Now().Add(time.Hour)
	for _, c := range []struct {
		name   string
		o      adapters.GateOptions
		expire bool
	}{{"none", none, false}, {"limits", limits, false}, {"limits+expiry", limits, true}} {
		b.Run(c.name, func(b *testing.B) {
			g, err := adapters.NewGate(&c.o)
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			sp, _ := shortpoll.New(&shortpoll.Options{Gate: g})
			defer sp.Close()
			h := adapters.Authorize(sp.Topic(hub, adapters.Param("topic")), func(r *http.Request, _ string, _ adapters.Action) error {
				adapters.SetUser(r, r.Header.Get("X-User"))
				if c.expire {
					adapters.ExpiresAt(r, farFuture)
				}
				return nil
			})
			mux := http.NewServeMux()
			mux.Handle("GET /topics/{topic}/poll", h)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				r := httptest.NewRequest(http.MethodGet, "/topics/news/poll?cursor="+seen, nil)
				r.RemoteAddr = "10.0." + strconv.Itoa(i>>8&3) + "." + strconv.Itoa(i&255) + ":4242"
				r.Header.Set("X-User", strconv.Itoa(i&1023))
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
