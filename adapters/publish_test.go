package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

// post POSTs data to u with the given Idempotency-Key headers and returns
// the status, the replay header and the body.
func post(t *testing.T, u, data string, keys ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(data))
	for _, k := range keys {
		req.Header.Add(adapters.KeyHeader, k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(adapters.ReplayedHeader), string(body)
}

func idOf(t *testing.T, body string) string {
	t.Helper()
	var v struct{ ID string }
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID == "" {
		t.Fatalf("answer %q: %v", body, err)
	}
	return v.ID
}

// storedData reads what topic holds on hub's broker.
func storedData(t *testing.T, hub *framework.Hub, topic string) []string {
	t.Helper()
	p, err := hub.Broker().Read(context.Background(), topic, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Records {
		got = append(got, string(r.Event.Data))
	}
	return got
}

// TestEndpointIdempotencyKey: a POST with a key publishes once within the
// window, answers a repeat with the same ID and Idempotent-Replayed; a bad
// key is a 400 that names the rule; keys are per topic.
func TestEndpointIdempotencyKey(t *testing.T) {
	s := newServer(t, &adapters.Options{Publish: true})
	chat := s.url + "/topics/chat"
	code, replayed, body := post(t, chat, "one", "order-17")
	if code != 200 || replayed != "" {
		t.Fatalf("first POST: %d %q %s", code, replayed, body)
	}
	first := idOf(t, body)
	code, replayed, body = post(t, chat, "one", "order-17")
	if code != 200 || replayed != "true" || idOf(t, body) != first {
		t.Fatalf("repeat: %d %q %s; want 200, replayed, id %s", code, replayed, body, first)
	}
	if code, replayed, body = post(t, s.url+"/topics/news", "one", "order-17"); code != 200 || replayed != "" {
		t.Fatalf("same key, other topic: %d %q %s", code, replayed, body)
	}
	for range 2 { // no key: each POST publishes
		if code, _, body := post(t, chat, "unkeyed"); code != 200 {
			t.Fatalf("POST without a key: %d %s", code, body)
		}
	}
	for _, tc := range []struct {
		name string
		keys []string
		want string // in the message
	}{
		{"empty", []string{""}, "1 to 255 bytes of printable ASCII"},
		{"too long", []string{strings.Repeat("k", 256)}, "longer than 255"},
		{"tab", []string{"a\tb"}, "not printable ASCII"},
		{"not ASCII", []string{"clé"}, "not printable ASCII"},
		{"two headers", []string{"a", "b"}, "2 Idempotency-Key headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := post(t, chat, "refused", tc.keys...)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s; want 400 saying %q", code, body, tc.want)
			}
		})
	}
	if got, want := strings.Join(storedData(t, s.hub, "chat"), " "), "one unkeyed unkeyed"; got != want {
		t.Fatalf("chat stores %q; want %q", got, want)
	}
	if st := s.hub.Stats(); st.Repeats != 1 {
		t.Errorf("Stats = %+v; want 1 repeat", st)
	}
}

// plainBroker is a broker that cannot keep keys.
type plainBroker struct{ framework.Broker }

func TestEndpointKeysUnsupported(t *testing.T) {
	mb, _ := framework.NewMemoryBroker(nil)
	defer mb.Close()
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: plainBroker{mb}})
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{Publish: true})
	defer ep.Close()
	ts := httptest.NewServer(ep.Topic(hub, func(*http.Request) string { return "t" }))
	defer ts.Close()
	if code, _, body := post(t, ts.URL, "x", "k"); code != http.StatusNotImplemented || !strings.Contains(body, "idempotency keys") {
		t.Fatalf("%d %s; want 501", code, body)
	}
	// And the client does not retry it.
	_, err := adapters.PublishTo(context.Background(), ts.URL, []byte("x"), &adapters.PublishOptions{MinBackoff: time.Millisecond})
	var se *adapters.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotImplemented {
		t.Fatalf("PublishTo: %v; want a 501 StatusError", err)
	}
}

// behaviour is what the scripted server does with one attempt: it lets the
// endpoint publish and then answers as it says.
type behaviour int

const (
	through       behaviour = iota + 1 // the endpoint's answer
	drop                               // publish, then close the connection without an answer
	slow                               // publish, then answer after the client's timeout
	garble                             // publish, then answer 200 with a body that is not JSON
	before503                          // 503 with Retry-After: 1, without publishing
	before503Bare                      // 503 without Retry-After, without publishing
	status408                          // 408, without publishing
	status429                          // 429 with Retry-After: 1, without publishing
	status500                          // 500, after publishing
	status400                          // 400, without publishing
	status403                          // 403, without publishing
)

// script serves the endpoint behind the behaviours of successive attempts
// (the last one repeats), and records each attempt.
type script struct {
	t     *testing.T
	real  http.Handler
	steps []behaviour

	mu       sync.Mutex
	keys     []string
	at       []time.Time
	headers  []http.Header
	rawQuery []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.keys)
	s.keys = append(s.keys, r.Header.Get(adapters.KeyHeader))
	s.at = append(s.at, time.Now())
	s.headers = append(s.headers, r.Header.Clone())
	s.rawQuery = append(s.rawQuery, r.URL.RawQuery)
	s.mu.Unlock()
	b := s.steps[min(n, len(s.steps)-1)]
	switch b {
	case through:
		s.real.ServeHTTP(w, r)
	case drop, slow, garble, status500:
		rec := httptest.NewRecorder()
		s.real.ServeHTTP(rec, r)
		if rec.Code != 200 {
			s.t.Errorf("attempt %d: the endpoint answered %d %s", n+1, rec.Code, rec.Body)
		}
		switch b {
		case drop:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				s.t.Error(err)
				return
			}
			conn.Close()
		case slow:
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case garble:
			w.WriteHeader(200)
			io.WriteString(w, `{"id":`)
		case status500:
			http.Error(w, "oops", 500)
		}
	case before503:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", 503)
	case before503Bare:
		http.Error(w, "busy", 503)
	case status408:
		http.Error(w, "slow", 408)
	case status429:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "calm down", 429)
	case status400:
		http.Error(w, "bad", 400)
	case status403:
		http.Error(w, "no", 403)
	}
}

// TestPublishTo: each ambiguous failure is retried with the same key, and
// the event stored once whatever the attempt that published it; the answers
// that are final are not retried.
func TestPublishTo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		steps    []behaviour
		attempts int    // made
		code     int    // of the StatusError returned; 0 for success
		stored   int    // events stored
		wait     string // the least time between the first two attempts
	}{
		{"answered", []behaviour{through}, 1, 0, 1, ""},
		{"lost answer", []behaviour{drop, through}, 2, 0, 1, ""},
		{"lost answers twice", []behaviour{drop, drop, through}, 3, 0, 1, ""},
		{"timeout", []behaviour{slow, through}, 2, 0, 1, ""},
		{"garbled answer", []behaviour{garble, through}, 2, 0, 1, ""},
		{"500 after publishing", []behaviour{status500, through}, 2, 0, 1, ""},
		{"503 with Retry-After", []behaviour{before503, through}, 2, 0, 1, "1s"},
		{"408", []behaviour{status408, through}, 2, 0, 1, ""},
		{"429 with Retry-After", []behaviour{status429, through}, 2, 0, 1, "1s"},
		{"400 is final", []behaviour{status400, through}, 1, 400, 0, ""},
		{"403 is final", []behaviour{status403, through}, 1, 403, 0, ""},
		{"attempts run out", []behaviour{before503Bare}, 4, 503, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &adapters.Options{Publish: true})
			sc := &script{t: t, real: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.SetPathValue("topic", "t")
				s.ep.Topic(s.hub, adapters.Param("topic")).ServeHTTP(w, r)
			}), steps: tc.steps}
			ts := httptest.NewServer(sc)
			defer ts.Close()
			id, err := adapters.PublishTo(context.Background(), ts.URL, []byte("payload"), &adapters.PublishOptions{
				HTTPClient:  &http.Client{Timeout: 300 * time.Millisecond},
				MaxAttempts: 4,
				MinBackoff:  time.Millisecond,
				MaxBackoff:  10 * time.Millisecond,
			})
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if len(sc.keys) != tc.attempts {
				t.Errorf("%d attempts; want %d", len(sc.keys), tc.attempts)
			}
			for i, k := range sc.keys {
				if k != sc.keys[0] || len(k) != 26 {
					t.Errorf("attempt %d sent key %q; the first %q", i+1, k, sc.keys[0])
				}
			}
			if tc.wait != "" {
				least, _ := time.ParseDuration(tc.wait)
				if d := sc.at[1].Sub(sc.at[0]); d < least {
					t.Errorf("retried after %v; want at least %v", d, least)
				}
			}
			var se *adapters.StatusError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("PublishTo: %v", err)
			case tc.code != 0 && (!errors.As(err, &se) || se.Code != tc.code):
				t.Fatalf("PublishTo: %v; want a StatusError %d", err, tc.code)
			}
			stored := storedData(t, s.hub, "t")
			if len(stored) != tc.stored {
				t.Fatalf("stored %q; want %d events", stored, tc.stored)
			}
			if tc.stored == 1 {
				p, _ := s.hub.Broker().Read(context.Background(), "t", 0, 10)
				if p.Records[0].Event.ID != id {
					t.Errorf("PublishTo answered %q; the event stored is %q", id, p.Records[0].Event.ID)
				}
			}
		})
	}
}

// TestPublishToOptions: the caller's key, event name and headers are sent
// on every attempt; each call draws a key of its own; bad options fail
// before any request; a deadline that the next attempt would pass ends the
// retries at once.
func TestPublishToOptions(t *testing.T) {
	s := newServer(t, &adapters.Options{Publish: true})
	sc := &script{t: t, real: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("topic", "t")
		s.ep.Topic(s.hub, adapters.Param("topic")).ServeHTTP(w, r)
	}), steps: []behaviour{drop, through}}
	ts := httptest.NewServer(sc)
	defer ts.Close()
	ctx := context.Background()
	opts := &adapters.PublishOptions{
		Key: "my key", Event: "greet",
		Header:     http.Header{"Authorization": {"Bearer x"}},
		MinBackoff: time.Millisecond,
	}
	if _, err := adapters.PublishTo(ctx, ts.URL+"?a=b", []byte("hi"), opts); err != nil {
		t.Fatal(err)
	}
	for i := range sc.keys {
		if sc.keys[i] != "my key" || sc.headers[i].Get("Authorization") != "Bearer x" || sc.rawQuery[i] != "a=b&event=greet" {
			t.Errorf("attempt %d: key %q, headers %v, query %q", i+1, sc.keys[i], sc.headers[i], sc.rawQuery[i])
		}
	}
	p, _ := s.hub.Broker().Read(ctx, "t", 0, 10)
	if len(p.Records) != 1 || p.Records[0].Event.Name != "greet" {
		t.Fatalf("stored %+v", p.Records)
	}
	// Fresh keys per call.
	sc.steps = []behaviour{through}
	sc.keys = nil
	for range 2 {
		if _, err := adapters.PublishTo(ctx, ts.URL, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(sc.keys) != 2 || sc.keys[0] == sc.keys[1] {
		t.Errorf("keys of two calls: %q", sc.keys)
	}
	for _, tc := range []struct {
		url  string
		opts *adapters.PublishOptions
	}{
		{"ftp://x/t", nil},
		{"://", nil},
		{ts.URL, &adapters.PublishOptions{Key: "bad\nkey"}},
		{ts.URL, &adapters.PublishOptions{MaxAttempts: -1}},
	} {
		sc.keys = nil
		if _, err := adapters.PublishTo(ctx, tc.url, []byte("x"), tc.opts); err == nil || len(sc.keys) != 0 {
			t.Errorf("PublishTo(%q, %+v): %v after %d requests", tc.url, tc.opts, err, len(sc.keys))
		}
	}
	// A Retry-After beyond the deadline: no waiting for nothing.
	sc.steps = []behaviour{before503}
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := adapters.PublishTo(dctx, ts.URL, []byte("x"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 250*time.Millisecond {
		t.Errorf("PublishTo with a deadline before the Retry-After: %v after %v", err, time.Since(start))
	}
}
