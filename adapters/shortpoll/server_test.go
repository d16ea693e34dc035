package shortpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a hub and a short-poll server on a loopback ServeMux at
// /topics/{topic}/poll. The pattern names no method, so that the
// handler's own 405 is what a POST gets.
type env struct {
	hub *framework.Hub
	sp  *Server
	srv *httptest.Server
}

func newEnv(t testing.TB, opts *Options, maxHistory int) *env {
	t.Helper()
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: maxHistory})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := framework.NewHub(&framework.HubOptions{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}/poll", sp.Topic(hub, pathTopic))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hub.Close()
		broker.Close()
	})
	return &env{hub: hub, sp: sp, srv: srv}
}

// pathTopic is the name function of a {topic} pattern.
func pathTopic(r *http.Request) string { return r.PathValue("topic") }

func (v *env) url(topic, cursor string) string {
	u := v.srv.URL + "/topics/" + topic + "/poll"
	if cursor != "" {
		u += "?cursor=" + url.QueryEscape(cursor)
	}
	return u
}

func (v *env) publish(t testing.TB, topic, data string) string {
	t.Helper()
	id, err := v.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   transport.PollBody
}

func (a answer) data() []string {
	var out []string
	for _, e := range a.body.Events {
		out = append(out, e.Data)
	}
	return out
}

func fetch(client *http.Client, req *http.Request) (answer, error) {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			return a, fmt.Errorf("body %q: %w", raw, err)
		}
	}
	return a, nil
}

func get(t testing.TB, u string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	a, err := fetch(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTopic(t *testing.T) {
	v := newEnv(t, &Options{Interval: 1500 * time.Millisecond, MaxEvents: 3}, 1000)
	// An empty cursor on an empty topic: nothing, and the tip.
	a := get(t, v.url("t", ""))
	if a.status != http.StatusOK || len(a.body.Events) != 0 || a.body.Events == nil || a.body.Cursor == "" {
		t.Fatalf("first poll: %d %s", a.status, a.raw)
	}
	if a.body.Retry == nil || *a.body.Retry != 1500 || a.header.Get(IntervalHeader) != "1500" {
		t.Errorf("retry %v, header %q", a.body.Retry, a.header.Get(IntervalHeader))
	}
	tip := a.body.Cursor
	var ids []string
	for i := range 5 {
		ids = append(ids, v.publish(t, "t", "m"+strconv.Itoa(i)))
	}
	tests := []struct {
		name       string
		cursor     string
		want       []string
		wantCursor string
		retry      int64
	}{
		{"from the tip, cut at MaxEvents", tip, []string{"m0", "m1", "m2"}, ids[2], 0},
		{"the rest", ids[2], []string{"m3", "m4"}, ids[4], 1500},
		{"nothing new", ids[4], nil, ids[4], 1500},
		{"empty cursor: live only", "", nil, ids[4], 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, v.url("t", tt.cursor))
			if a.status != http.StatusOK || !slices.Equal(a.data(), tt.want) || a.body.Cursor != tt.wantCursor {
				t.Fatalf("got %d %s, want %q cursor %s", a.status, a.raw, tt.want, tt.wantCursor)
			}
			if a.body.Retry == nil || *a.body.Retry != tt.retry || a.header.Get(IntervalHeader) != strconv.FormatInt(tt.retry, 10) {
				t.Errorf("retry %d, header %q, want %d", *a.body.Retry, a.header.Get(IntervalHeader), tt.retry)
			}
			if a.header.Get("ETag") != strconv.Quote(tt.wantCursor) || a.header.Get(CursorHeader) != tt.wantCursor {
				t.Errorf("ETag %q, cursor header %q", a.header.Get("ETag"), a.header.Get(CursorHeader))
			}
			if a.header.Get("Cache-Control") == "" {
				t.Error("no Cache-Control")
			}
		})
	}
}

func TestNotModified(t *testing.T) {
	v := newEnv(t, nil, 1000)
	id := v.publish(t, "t", "a")
	etag := strconv.Quote(id)
	tests := []struct {
		name   string
		cursor string
		inm    string
		status int
	}{
		{"nothing new", id, etag, http.StatusNotModified},
		{"weak tag", id, "W/" + etag, http.StatusNotModified},
		{"in a list", id, `"x", ` + etag, http.StatusNotModified},
		{"star", id, "*", http.StatusNotModified},
		{"other tag", id, `"x"`, http.StatusOK},
		{"new events", "0", strconv.Quote("0"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, v.url("t", tt.cursor), "If-None-Match", tt.inm)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if tt.status == http.StatusNotModified && (len(a.raw) != 0 || a.header.Get("ETag") != etag || a.header.Get(IntervalHeader) == "") {
				t.Errorf("304 with body %q, headers %v", a.raw, a.header)
			}
		})
	}
	// Once something is published the same request is answered 200.
	next := v.publish(t, "t", "b")
	if a := get(t, v.url("t", id), "If-None-Match", etag); a.status != http.StatusOK || a.body.Cursor != next {
		t.Fatalf("after publish: %d %s", a.status, a.raw)
	}
}

func TestGap(t *testing.T) {
	v := newEnv(t, nil, 2)
	first := v.publish(t, "t", "1")
	var ids []string
	for _, d := range []string{"2", "3", "4"} {
		ids = append(ids, v.publish(t, "t", d))
	}
	a := get(t, v.url("t", first), "If-None-Match", strconv.Quote(ids[2]))
	if a.status != http.StatusOK || a.body.Gap == nil || a.body.Gap.Last != first || a.body.Gap.Next != ids[1] {
		t.Fatalf("got %d %s", a.status, a.raw)
	}
	if !slices.Equal(a.data(), []string{"3", "4"}) {
		t.Errorf("events %q", a.data())
	}
}

func TestBadInput(t *testing.T) {
	v := newEnv(t, nil, 1000)
	tests := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{"malformed cursor", http.MethodGet, "/topics/t/poll?cursor=1-2-3", http.StatusBadRequest},
		{"cursor too long", http.MethodGet, "/topics/t/poll?cursor=" + strings.Repeat("9", 65), http.StatusBadRequest},
		{"two cursors", http.MethodGet, "/topics/t/poll?cursor=1&lastEventId=2", http.StatusBadRequest},
		{"bad topic", http.MethodGet, "/topics/.t/poll", http.StatusBadRequest},
		{"PUT", http.MethodPut, "/topics/t/poll", http.StatusMethodNotAllowed},
		{"POST", http.MethodPost, "/topics/t/poll", http.StatusMethodNotAllowed},
		{"HEAD", http.MethodHead, "/topics/t/poll", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, v.srv.URL+tt.path, nil)
			a, err := fetch(nil, req)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodGet {
				t.Errorf("Allow %q, want GET", a.header.Get("Allow"))
			}
			if tt.method == http.MethodHead {
				return // no body
			}
			var msg struct{ Message string }
			if err := json.Unmarshal(a.raw, &msg); err != nil || msg.Message == "" {
				t.Errorf("body %q is not a JSON error", a.raw)
			}
		})
	}
	id := v.publish(t, "t", "x")
	if a := get(t, v.url("t", "0")); a.status != http.StatusOK || a.body.Cursor != id {
		t.Fatalf("after bad requests: %d %s", a.status, a.raw)
	}
}

func TestNewRejects(t *testing.T) {
	for _, o := range []Options{{MaxEvents: -1}, {Interval: -1}, {MaxTopics: -1}, {Wait: -1}} {
		if _, err := New(&o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   bool
	}{
		{`"a-1"`, true}, {`W/"a-1"`, true}, {`"b", "a-1"`, true}, {`*`, true},
		{``, false}, {`"a-2"`, false}, {`a-1`, false}, {`"a-1`, false},
	} {
		if got := matches(tt.header, `"a-1"`); got != tt.want {
			t.Errorf("matches(%q) = %v", tt.header, got)
		}
	}
}

func FuzzMatches(f *testing.F) {
	for _, s := range []string{`"a-1"`, `W/"a-1", "b"`, `*`, ``, `,,`, `W/`} {
		f.Add(s, `"a-1"`)
	}
	f.Fuzz(func(t *testing.T, header, etag string) {
		got := matches(header, etag)
		if header == etag && strings.HasPrefix(etag, `"`) && !strings.Contains(etag, ",") && strings.TrimSpace(etag) == etag && !got {
			t.Fatalf("%q does not match itself", etag)
		}
		if header == "" && got {
			t.Fatal("empty header matches")
		}
	})
}
