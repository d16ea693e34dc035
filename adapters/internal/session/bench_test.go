package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// benchData is a 512-byte JSON event, as a chat sends.
var benchData = []byte(`{"user":"alice","text":"` + strings.Repeat("hello ", 80) + `"}`)

// answer gathers what sess has into a poll answer and encodes it, as a
// poll server answers; it returns the bytes and the events.
func answer(b *testing.B, sess *Session) ([]byte, int) {
	var body transport.PollAnswer
	if _, err := Gather(context.Background(), sess, &body, 128); err != nil {
		b.Fatal(err)
	}
	return body.JSON(), body.Len()
}

// BenchmarkPollAnswer measures one poll answer of 16 events of 512 bytes
// of JSON, gathered and encoded: "live", each of 100 long polls of a
// topic answered the same published events (their subscriptions' queues);
// "history", a short poll answered from the history.
func BenchmarkPollAnswer(b *testing.B) {
	const events, polls = 16, 100
	name := func(*http.Request) string { return "t" }
	b.Run("live", func(b *testing.B) {
		hub, _ := framework.NewHub(nil)
		defer hub.Close()
		sessions := make([]*Session, polls)
		for i := range sessions {
			s, _, err := Open(httptest.NewRequest(http.MethodGet, "/t", nil), hub, Options{Name: name})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sessions[i] = s
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%polls == 0 {
				b.StopTimer()
				for range events {
					if _, err := hub.Publish(context.Background(), "t", framework.Event{Data: benchData}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			if raw, n := answer(b, sessions[i%polls]); n != events {
				b.Fatalf("%d events: %.100s", n, raw)
			}
		}
	})
	b.Run("history", func(b *testing.B) {
		hub, _ := framework.NewHub(nil)
		defer hub.Close()
		var first string
		for i := range events + 1 {
			id, err := hub.Publish(context.Background(), "t", framework.Event{Data: benchData})
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				first = id
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/t?cursor="+first, nil)
		b.ReportAllocs()
		for b.Loop() {
			s, _, err := Open(r, hub, Options{Name: name, Read: 128})
			if err != nil {
				b.Fatal(err)
			}
			if raw, n := answer(b, s); n != events {
				b.Fatalf("%d events: %.100s", n, raw)
			}
			s.Close()
		}
	})
}
