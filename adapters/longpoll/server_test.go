package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

func TestTopicRetained(t *testing.T) {
	v := newEnv(t, &Options{MaxEvents: 3}, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, v.publish(t, "chat", "m"+strconv.Itoa(i)))
	}
	tests := []struct {
		name       string
		cursor     string
		header     bool // send the cursor as Last-Event-ID
		want       []string
		wantCursor string
	}{
		{"after the first", ids[0], false, []string{"m1", "m2", "m3"}, ids[3]},
		{"after the third", ids[2], false, []string{"m3", "m4"}, ids[4]},
		{"Last-Event-ID", ids[3], true, []string{"m4"}, ids[4]},
		{"from zero", "0", false, []string{"m0", "m1", "m2"}, ids[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := v.url("chat", tt.cursor)
			if tt.header {
				u = v.url("chat", "")
			}
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if tt.header {
				req.Header.Set("Last-Event-ID", tt.cursor)
			}
			a := do(t, nil, req)
			if a.status != http.StatusOK {
				t.Fatalf("status %d: %s", a.status, a.raw)
			}
			if got := a.data(); !slices.Equal(got, tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
			if a.body.Cursor != tt.wantCursor || a.header.Get(CursorHeader) != tt.wantCursor {
				t.Errorf("cursor %q, header %q, want %q", a.body.Cursor, a.header.Get(CursorHeader), tt.wantCursor)
			}
			if a.body.Gap != nil {
				t.Errorf("unexpected gap %+v", a.body.Gap)
			}
			if cc := a.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if last := a.body.Events[len(a.body.Events)-1]; last.ID != tt.wantCursor {
				t.Errorf("last event ID %q, want %q", last.ID, tt.wantCursor)
			}
		})
	}
}

func TestTopicWaitsForEvent(t *testing.T) {
	v := newEnv(t, &Options{BatchWindow: -1}, nil)
	tip := v.publish(t, "chat", "old")
	got := make(chan answer, 1)
	go func() {
		a, err := fetch(nil, mustRequest(v.url("chat", "")))
		if err != nil {
			a.status = -1
		}
		got <- a
	}()
	waitFor(t, func() bool { return v.lp.Connections() == 1 })
	id := v.publish(t, "chat", "new")
	a := <-got
	if a.status != http.StatusOK || !slices.Equal(a.data(), []string{"new"}) || a.body.Cursor != id {
		t.Fatalf("got %d %s, want the new event only (tip was %s)", a.status, a.raw, tip)
	}
}

func TestTopicGap(t *testing.T) {
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 2})
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer broker.Close()
	defer hub.Close()
	lp, _ := New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /t/{topic}", lp.Topic(hub, pathTopic))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	first, _ := hub.Publish(ctx, "t", framework.Event{Data: []byte("1")})
	var ids []string
	for _, d := range []string{"2", "3", "4"} {
		id, _ := hub.Publish(ctx, "t", framework.Event{Data: []byte(d)})
		ids = append(ids, id)
	}
	a := get(t, srv.URL+"/t/t?cursor="+first)
	if a.status != http.StatusOK {
		t.Fatalf("status %d", a.status)
	}
	if a.body.Gap == nil || a.body.Gap.Last != first || a.body.Gap.Next != ids[1] {
		t.Errorf("gap %+v, want last %s next %s", a.body.Gap, first, ids[1])
	}
	if !slices.Equal(a.data(), []string{"3", "4"}) || a.body.Cursor != ids[2] {
		t.Errorf("events %q cursor %s", a.data(), a.body.Cursor)
	}
	// The raw JSON has the documented shape.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(a.raw, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"events", "cursor", "gap"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("body %s lacks %q", a.raw, k)
		}
	}
	if _, ok := raw["retry"]; ok {
		t.Errorf("long-poll body %s has retry", a.raw)
	}
}

func TestBadInput(t *testing.T) {
	var rec recorder
	v := newEnv(t, &Options{Hooks: rec.hooks()}, func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return rxgo.Just("x")(), nil
	})
	long := strings.Repeat("1", 65)
	tests := []struct {
		name   string
		method string
		path   string
		header string // Last-Event-ID
		status int
	}{
		{"malformed cursor", http.MethodGet, "/topics/chat/longpoll?cursor=x-y", "", http.StatusBadRequest},
		{"malformed Last-Event-ID", http.MethodGet, "/topics/chat/longpoll", "abc-", http.StatusBadRequest},
		{"cursor too long", http.MethodGet, "/topics/chat/longpoll?cursor=" + long, "", http.StatusBadRequest},
		{"producer cursor too long", http.MethodGet, "/stream?cursor=" + long, "", http.StatusBadRequest},
		{"two cursors", http.MethodGet, "/stream?cursor=1&lastEventId=2", "", http.StatusBadRequest},
		{"bad topic", http.MethodGet, "/topics/a..b/longpoll", "", http.StatusBadRequest},
		{"bad timeout", http.MethodGet, "/stream?timeout=x", "", http.StatusBadRequest},
		{"POST", http.MethodPost, "/topics/chat/longpoll", "", http.StatusMethodNotAllowed},
		{"HEAD", http.MethodHead, "/topics/chat/longpoll", "", http.StatusMethodNotAllowed},
		{"DELETE", http.MethodDelete, "/stream", "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, v.srv.URL+tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Last-Event-ID", tt.header)
			}
			a := do(t, nil, req)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
			}
			if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodGet {
				t.Errorf("Allow %q, want GET", a.header.Get("Allow"))
			}
			if tt.method == http.MethodHead {
				return // no body
			}
			var msg struct{ Message string }
			if err := json.Unmarshal(a.raw, &msg); err != nil || msg.Message == "" {
				t.Errorf("body %q is not a JSON error: %v", a.raw, err)
			}
		})
	}
	if opened, errs, closed := rec.calls(); len(opened)+len(errs)+len(closed) != 0 {
		t.Errorf("refused requests opened %d, failed %d, closed %d times", len(opened), len(errs), len(closed))
	}
	// Nothing was lost for others: the topic still serves.
	id := v.publish(t, "chat", "x")
	if a := get(t, v.url("chat", "0")); a.status != http.StatusOK || a.body.Cursor != id {
		t.Fatalf("after bad requests: %d %s", a.status, a.raw)
	}
}

func TestShutdown(t *testing.T) {
	const n = 20
	var rec recorder
	v := newEnv(t, &Options{ShutdownRetry: 3 * time.Second, Hooks: rec.hooks()}, nil)
	tip := v.publish(t, "chat", "x")
	got := make(chan answer, n)
	for range n {
		go func() {
			a, err := fetch(nil, mustRequest(v.url("chat", tip)))
			if err != nil {
				a.status = -1
			}
			got <- a
		}()
	}
	waitFor(t, func() bool { return v.lp.Connections() == n })
	v.lp.Close()
	for range n {
		a := <-got
		if a.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", a.status, a.raw)
		}
		ra, err := strconv.Atoi(a.header.Get("Retry-After"))
		if err != nil || ra < 3 || ra > 6 {
			t.Errorf("Retry-After %q, want 3..6", a.header.Get("Retry-After"))
		}
		var body struct{ Message string }
		if err := json.Unmarshal(a.raw, &body); err != nil || body.Message != ErrShutdown.Error() {
			t.Errorf("body %s: %v", a.raw, err)
		}
		if a.header.Get(CursorHeader) != tip || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", a.header)
		}
	}
	// Later requests get the same answer at once, and are not opened.
	if a := get(t, v.url("chat", tip)); a.status != http.StatusServiceUnavailable || a.header.Get(CursorHeader) != tip || a.header.Get("Retry-After") == "" {
		t.Errorf("after Close: %d %v", a.status, a.header)
	}
	opened, errs, closed := rec.calls()
	if len(opened) != n || len(closed) != n || len(errs) != 0 {
		t.Fatalf("%d opened, %d closed, %d errors; want %d, %d, 0", len(opened), len(closed), len(errs), n, n)
	}
	for _, reason := range closed {
		if !errors.Is(reason, ErrShutdown) {
			t.Errorf("closed with %v, want ErrShutdown", reason)
		}
	}
}

func TestClientGone(t *testing.T) {
	var rec recorder
	v := newEnv(t, &Options{Hooks: rec.hooks()}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url("chat", ""), nil)
		_, err := fetch(nil, req)
		errc <- err
	}()
	waitFor(t, func() bool { return v.lp.Connections() == 1 && v.hub.Topics() == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("request succeeded")
	}
	waitFor(t, func() bool { return v.lp.Connections() == 0 && v.hub.Topics() == 0 })
	waitFor(t, func() bool { _, _, closed := rec.calls(); return len(closed) > 0 })
	opened, errs, closed := rec.calls()
	if len(opened) != 1 || len(errs) != 0 || len(closed) != 1 || !errors.Is(closed[0], ErrClientGone) {
		t.Fatalf("%d opened, errors %v, closed %v; want 1, none, [ErrClientGone]", len(opened), errs, closed)
	}
}

// The answer gets its own write deadline: an http.Server WriteTimeout
// shorter than the wait does not cut it.
func TestWriteTimeoutReplaced(t *testing.T) {
	hub := &framework.Hub{}
	defer hub.Close()
	lp, _ := New(&Options{BatchWindow: -1})
	mux := http.NewServeMux()
	mux.Handle("GET /t/{topic}", lp.Topic(hub, pathTopic))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.WriteTimeout = 20 * time.Millisecond
	srv.Start()
	defer srv.Close()
	got := make(chan answer, 1)
	go func() {
		a, err := fetch(nil, mustRequest(srv.URL+"/t/t"))
		if err != nil {
			a.status = -1
		}
		got <- a
	}()
	waitFor(t, func() bool { return lp.Connections() == 1 })
	time.Sleep(60 * time.Millisecond) // past the server's WriteTimeout
	hub.Publish(context.Background(), "t", framework.Event{Data: []byte("late")})
	if a := <-got; a.status != http.StatusOK || !slices.Equal(a.data(), []string{"late"}) {
		t.Fatalf("got %d %q", a.status, a.raw)
	}
}

func TestNewRejects(t *testing.T) {
	for _, o := range []Options{{MaxEvents: -1}, {ShutdownRetry: -1}} {
		if _, err := New(&o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func mustRequest(u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
