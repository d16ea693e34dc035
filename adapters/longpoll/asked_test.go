package longpoll

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// TestAskedTimeout: ?timeout= shortens the wait (0s answers at once with
// the starting cursor), never lengthens it, and is validated: a bad one is
// a 400 naming the value, and opens nothing.
func TestAskedTimeout(t *testing.T) {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	tip, _ := hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
	var rec recorder
	s, _ := New(&Options{Timeout: time.Hour, Hooks: rec.hooks()})
	mux := http.NewServeMux()
	mux.Handle("GET /t", s.Topic(hub, func(*http.Request) string { return "t" }))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, tc := range []struct {
		query  string
		status int
		cursor string
	}{
		{"timeout=0s", http.StatusNoContent, tip},
		{"timeout=1ms&cursor=" + tip, http.StatusNoContent, tip},
		{"timeout=0s&cursor=0", http.StatusOK, tip}, // retained events come first
		{"timeout=soon", http.StatusBadRequest, ""},
		{"timeout=-1s", http.StatusBadRequest, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/t?"+tc.query, nil)
		a, err := fetch(nil, req)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if a.status != tc.status || a.header.Get(CursorHeader) != tc.cursor {
			t.Errorf("%s: %d cursor %q, want %d %q", tc.query, a.status, a.header.Get(CursorHeader), tc.status, tc.cursor)
		}
		if tc.status == http.StatusBadRequest {
			var msg struct{ Message string }
			value, _ := strings.CutPrefix(tc.query, "timeout=")
			if err := json.Unmarshal(a.raw, &msg); err != nil || !strings.Contains(msg.Message, `"`+value+`"`) {
				t.Errorf("%s: body %q does not name the value", tc.query, a.raw)
			}
		}
	}
	opened, _, closed := rec.calls()
	if len(opened) != 3 || len(closed) != 3 {
		t.Errorf("%d opened, %d closed, want 3 each: the bad timeouts open nothing", len(opened), len(closed))
	}
}
