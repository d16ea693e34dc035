package shortpoll

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// BenchmarkEmptyPoll measures a short-poll with nothing new over loopback
// HTTP/1.1 with a kept-alive connection: answered 200 with no events, and
// answered 304 Not Modified to a conditional request.
func BenchmarkEmptyPoll(b *testing.B) {
	for _, conditional := range []bool{false, true} {
		name := "200"
		if conditional {
			name = "304"
		}
		b.Run(name, func(b *testing.B) {
			v := newEnv(b, &Options{Gate: transport.Unlimited()}, 1000) // polls in a loop: past the default connect rate
			id := v.publish(b, "t", "x")
			req, _ := http.NewRequest(http.MethodGet, v.url("t", id), nil)
			want := http.StatusOK
			if conditional {
				req.Header.Set("If-None-Match", strconv.Quote(id))
				want = http.StatusNotModified
			}
			b.ReportAllocs()
			for b.Loop() {
				a, err := fetch(nil, req)
				if err != nil || a.status != want {
					b.Fatalf("%d %s %v", a.status, a.raw, err)
				}
			}
		})
	}
}

// BenchmarkHandler measures the handler alone, without HTTP, for an empty
// poll: the history read, and the 304 or the JSON answer.
func BenchmarkHandler(b *testing.B) {
	for _, conditional := range []bool{false, true} {
		name := "200"
		if conditional {
			name = "304"
		}
		b.Run(name, func(b *testing.B) {
			v := newEnv(b, &Options{Gate: transport.Unlimited()}, 1000)
			id := v.publish(b, "t", "x")
			h := v.sp.Topic(v.hub, func(*http.Request) string { return "t" })
			req := httptest.NewRequest(http.MethodGet, "/t?cursor="+id, nil)
			want := http.StatusOK
			if conditional {
				req.Header.Set("If-None-Match", strconv.Quote(id))
				want = http.StatusNotModified
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				if h.ServeHTTP(rec, req); rec.Code != want {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
