package adapters

import (
	"errors"
	"net/http/httptest"
	"testing"
)

func TestNegotiate(t *testing.T) {
	all := func(Transport) bool { return true }
	noSSE := func(t Transport) bool { return t != SSE }
	onlyPolls := func(t Transport) bool { return t == LongPoll || t == ShortPoll }
	upgrade := map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"}
	for _, tc := range []struct {
		name    string
		query   string
		header  map[string]string
		enabled func(Transport) bool
		want    Transport
		status  int
	}{
		{"no Accept", "", nil, all, SSE, 0},
		{"no Accept, SSE off", "", nil, noSSE, LongPoll, 0},
		{"wildcard", "", map[string]string{"Accept": "*/*"}, all, SSE, 0},
		{"EventSource", "", map[string]string{"Accept": "text/event-stream"}, all, SSE, 0},
		{"JSON", "", map[string]string{"Accept": "application/json"}, all, LongPoll, 0},
		{"JSON preferred by q", "", map[string]string{"Accept": "text/event-stream;q=0.5, application/json"}, all, LongPoll, 0},
		{"tie goes to SSE", "", map[string]string{"Accept": "application/json, text/event-stream"}, all, SSE, 0},
		{"SSE refused by q=0", "", map[string]string{"Accept": "text/event-stream;q=0, */*"}, all, LongPoll, 0},
		{"text/* is SSE", "", map[string]string{"Accept": "text/*"}, all, SSE, 0},
		{"wildcard with only polls", "", map[string]string{"Accept": "*/*"}, onlyPolls, LongPoll, 0},
		{"HTML only", "", map[string]string{"Accept": "text/html"}, all, 0, 406},
		{"SSE asked, SSE off", "", map[string]string{"Accept": "text/event-stream"}, noSSE, 0, 406},
		{"garbage Accept", "", map[string]string{"Accept": ";;;, /"}, all, 0, 406},
		{"bad q", "", map[string]string{"Accept": "text/event-stream;q=2"}, all, 0, 406},
		{"named longpoll", "transport=longpoll", map[string]string{"Accept": "text/event-stream"}, all, LongPoll, 0},
		{"named poll", "transport=poll", nil, all, ShortPoll, 0},
		{"named sse", "transport=sse", map[string]string{"Accept": "application/json"}, all, SSE, 0},
		{"unknown name", "transport=carrier-pigeon", nil, all, 0, 400},
		{"named but off", "transport=sse", nil, noSSE, 0, 400},
		{"upgrade", "", upgrade, all, WebSocket, 0},
		{"upgrade named", "transport=websocket", upgrade, all, WebSocket, 0},
		{"upgrade, WebSocket off", "", upgrade, onlyPolls, 0, 400},
		{"upgrade naming SSE", "transport=sse", upgrade, all, 0, 400},
		{"websocket without upgrade", "transport=websocket", nil, all, 0, 400},
		{"upgrade to something else", "", map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, all, SSE, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tc.query, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			got, err := Negotiate(r, tc.enabled)
			var ne *NegotiationError
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("error %v, want %v", err, tc.want)
			case tc.status == 0 && got != tc.want:
				t.Fatalf("got %v, want %v", got, tc.want)
			case tc.status != 0 && !errors.As(err, &ne):
				t.Fatalf("got %v, %v; want a %d", got, err, tc.status)
			case tc.status != 0 && ne.Status != tc.status:
				t.Fatalf("status %d (%v), want %d", ne.Status, err, tc.status)
			}
		})
	}
}

func TestTransportNames(t *testing.T) {
	for tr := WebSocket; tr <= ShortPoll; tr++ {
		if got, ok := ParseTransport(tr.String()); !ok || got != tr {
			t.Errorf("%v does not round-trip", tr)
		}
	}
	if _, ok := ParseTransport("Transport(9)"); ok {
		t.Error("unknown name parsed")
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add("text/event-stream;q=0.5, application/json", "", "")
	f.Add("*/*", "transport=poll", "websocket")
	f.Add(";;q=, /", "transport=%zz", "")
	f.Fuzz(func(t *testing.T, accept, query, upgrade string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = query
		r.Header.Set("Accept", accept)
		if upgrade != "" {
			r.Header.Set("Connection", "upgrade")
			r.Header.Set("Upgrade", upgrade)
		}
		got, err := Negotiate(r, func(Transport) bool { return true })
		var ne *NegotiationError
		if err != nil && (!errors.As(err, &ne) || (ne.Status != 400 && ne.Status != 406)) {
			t.Fatalf("error %v is not a 400 or 406 NegotiationError", err)
		}
		if err == nil && (got < WebSocket || got > ShortPoll) {
			t.Fatalf("picked %v", got)
		}
	})
}
