package poll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// TestEvent: the values a poll sends, and those it refuses by their type
// rather than encoding them on a guess.
func TestEvent(t *testing.T) {
	boom := errors.New("boom")
	type point struct{ X int }
	for _, tt := range []struct {
		v    any
		data string
		err  string // contained in the error
	}{
		{framework.Event{Data: []byte("e")}, "e", ""},
		{&framework.Event{Data: []byte("p")}, "p", ""},
		{"s", "s", ""},
		{[]byte("b"), "b", ""},
		{json.RawMessage(`{"a":1}`), `{"a":1}`, ""},
		{boom, "", "boom"},
		{(*framework.Event)(nil), "", "nil"},
		{nil, "", "nil is not an event"},
		{point{1}, "", "poll.point is not an event"},
		{42, "", "int is not an event"},
		{map[string]int{}, "", "map[string]int is not an event"},
	} {
		ev, err := event(tt.v)
		switch {
		case tt.err == "" && (err != nil || string(ev.Data) != tt.data):
			t.Errorf("event(%#v) = %q, %v; want %q", tt.v, ev.Data, err, tt.data)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("event(%#v) error %v, want one containing %q", tt.v, err, tt.err)
		}
	}
}

// TestProduceGrace: a producer that ignores its context holds the answer
// for Grace at most, and is reported.
func TestProduceGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		stubborn := func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
				next <- rxgo.Of("x")
				<-release // not ctx
			}}), nil
		}
		var logged bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logged, nil))
		var b transport.PollAnswer
		start := time.Now()
		out, err := Produce(context.Background(), httptest.NewRequest("GET", "/p", nil), stubborn, "", &b, Policy{Logger: log})
		if body := decode(t, &b); out != Answered || err != nil || len(body.Events) != 1 || body.Events[0].Data != "x" {
			t.Errorf("Produce = %v, %v, %+v", out, err, body)
		}
		if d := time.Since(start); d != Grace {
			t.Errorf("answered after %v, want %v", d, Grace)
		}
		if !strings.Contains(logged.String(), "producer ignores its context") || !strings.Contains(logged.String(), "path=/p") {
			t.Errorf("logged %q", logged.String())
		}
		close(release)
	})
}

// TestProducePolicy: the first item answers at once without a window, the
// items of the window with one, up to Max; a gap after events ends the
// answer before it; nothing within the timeout times out.
func TestProducePolicy(t *testing.T) {
	gap := framework.Gap{Last: "a-1", Next: "a-5"}
	for _, tt := range []struct {
		name  string
		items []any
		every time.Duration // between items
		pol   Policy
		out   Outcome
		data  []string
		gap   bool
		after time.Duration
	}{
		{"first at once", []any{"a", "b"}, time.Millisecond, Policy{Timeout: time.Second}, Answered, []string{"a"}, false, time.Millisecond},
		{"window", []any{"a", "b", "c", "d"}, 10 * time.Millisecond, Policy{Window: 25 * time.Millisecond}, Answered, []string{"a", "b", "c"}, false, 35 * time.Millisecond},
		{"window cut", []any{"a", "b", "c"}, 10 * time.Millisecond, Policy{Window: 15 * time.Millisecond}, Answered, []string{"a", "b"}, false, 25 * time.Millisecond},
		{"full", []any{"a", "b", "c"}, 0, Policy{Window: time.Hour, Max: 2}, Answered, []string{"a", "b"}, false, 0},
		{"completed", []any{"a"}, 0, Policy{Window: time.Hour}, Answered, []string{"a"}, false, 0},
		{"gap first", []any{gap, "a"}, 0, Policy{Window: time.Hour}, Answered, []string{"a"}, true, 0},
		{"gap after events", []any{"a", gap, "b"}, 0, Policy{Window: time.Hour}, Answered, []string{"a"}, false, 0},
		{"timeout", []any{"a"}, time.Minute, Policy{Timeout: time.Second}, TimedOut, nil, false, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := func(r *http.Request, cursor string) (rxgo.Observable, error) {
					return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
						for _, v := range tt.items {
							select {
							case <-time.After(tt.every):
							case <-ctx.Done():
								return
							}
							if !rxgo.Of(v).SendContext(ctx, next) {
								return
							}
						}
					}}), nil
				}
				var b transport.PollAnswer
				start := time.Now()
				out, err := Produce(context.Background(), httptest.NewRequest("GET", "/p", nil), p, "", &b, tt.pol)
				var data []string
				for _, e := range decode(t, &b).Events {
					data = append(data, e.Data)
				}
				if out != tt.out || err != nil || !slices.Equal(data, tt.data) || (b.Gap != nil) != tt.gap {
					t.Errorf("Produce = %v, %v, %q, gap %v; want %v, %q, gap %v", out, err, data, b.Gap, tt.out, tt.data, tt.gap)
				}
				if d := time.Since(start); d != tt.after {
					t.Errorf("answered after %v, want %v", d, tt.after)
				}
			})
		})
	}
}

// decode returns the answer as a client decodes it.
func decode(t *testing.T, a *transport.PollAnswer) transport.PollBody {
	t.Helper()
	var b transport.PollBody
	if err := json.Unmarshal(a.JSON(), &b); err != nil {
		t.Fatalf("answer %s: %v", a.JSON(), err)
	}
	return b
}
