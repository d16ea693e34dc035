package adapters_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	rxws "github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type server struct {
	hub *framework.Hub
	ep  *adapters.Endpoint
	url string
}

func newServer(t *testing.T, opts *adapters.Options) *server {
	t.Helper()
	hub, err := framework.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := adapters.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}", ep.Topic(hub, adapters.Param("topic")))
	mux.Handle("/count", ep.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Map(streams.Interval(time.Millisecond), func(n int64) string {
			return strconv.FormatInt(n, 10)
		}), nil
	}))
	mux.Handle("GET "+adapters.ClientPath, adapters.ClientHandler())
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ep.Close()
		ts.Close()
		hub.Close()
	})
	return &server{hub: hub, ep: ep, url: ts.URL}
}

func (s *server) publish(t *testing.T, topic string, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i <= to; i++ {
		id, err := s.hub.Publish(context.Background(), topic, framework.Text(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// take reads n events from a client's observable and returns their data.
func take(t *testing.T, obs rxgo.Observable, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := obs.Observe(rxgo.WithContext(ctx))
	var got []string
	for len(got) < n {
		select {
		case it, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended after %v", got)
			}
			if it.E != nil {
				t.Fatalf("after %v: %v", got, it.E)
			}
			if ev, ok := it.V.(framework.Event); ok {
				got = append(got, string(ev.Data))
			} else {
				t.Fatalf("unexpected item %#v", it.V)
			}
		case <-ctx.Done():
			t.Fatalf("only %v", got)
		}
	}
	cancel()
	for range ch { // let the client's goroutine finish
	}
	return got
}

// TestSwitchTransports reads one topic over the four transports in turn,
// each resuming from the cursor the previous one reached: the whole
// sequence arrives, in order, once.
func TestSwitchTransports(t *testing.T) {
	s := newServer(t, nil)
	ids := s.publish(t, "t", 1, 40)
	base := s.url + "/topics/t"
	var got []string

	ws, err := rxws.NewClient(strings.Replace(base, "http", "ws", 1), &rxws.ClientOptions{Cursor: "0"})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, take(t, ws.Events(), 10)...)

	sc, err := sse.NewClient(base, &sse.ClientOptions{Cursor: ids[9]})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, take(t, sc.Events(), 10)...)

	lp, err := longpoll.NewClient(base+"?transport=longpoll", &longpoll.ClientOptions{Cursor: ids[19]})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, take(t, lp.Events(), 10)...)

	sp, err := shortpoll.NewClient(base+"?transport=poll", &shortpoll.ClientOptions{Cursor: ids[29], Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, take(t, sp.Events(), 10)...)

	for i, d := range got {
		if d != strconv.Itoa(i+1) {
			t.Fatalf("event %d is %q: %v", i, d, got)
		}
	}
}

func status(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, resp.Header.Get("Content-Type") // a stream: its headers tell
	}
	b := make([]byte, 512)
	n, _ := io.ReadFull(resp.Body, b)
	return resp.StatusCode, resp.Header.Get("Content-Type") + " " + string(b[:n])
}

func TestNegotiationOverHTTP(t *testing.T) {
	s := newServer(t, &adapters.Options{Publish: true, MaxPublish: 10, Disable: []adapters.Transport{adapters.ShortPoll}})
	s.publish(t, "t", 1, 1)
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		want                     int
		contains                 string
	}{
		{"SSE by Accept", "GET", "/topics/t", "", map[string]string{"Accept": "text/event-stream", "Last-Event-ID": "0"}, 200, "text/event-stream"},
		{"long-poll by Accept", "GET", "/topics/t?cursor=0", "", map[string]string{"Accept": "application/json"}, 200, `"events":[{"id"`},
		{"HTML only", "GET", "/topics/t", "", map[string]string{"Accept": "text/html"}, 406, "application/json"},
		{"disabled short-poll", "GET", "/topics/t?transport=poll", "", nil, 400, "not enabled"},
		{"unknown transport", "GET", "/topics/t?transport=smoke", "", nil, 400, "unknown transport"},
		{"websocket without upgrade", "GET", "/topics/t?transport=websocket", "", nil, 400, "upgrade"},
		{"bad cursor", "GET", "/topics/t?transport=longpoll&cursor=x", "", nil, 400, "invalid cursor"},
		{"publish", "POST", "/topics/t?event=note", "hello", nil, 200, `"id"`},
		{"publish too large", "POST", "/topics/t", "01234567890", nil, 413, "limit"},
		{"publish bad name", "POST", "/topics/t?event=a%0Ab", "x", nil, 400, "invalid event"},
		{"publish bad topic", "POST", "/topics/a%20b", "x", nil, 400, "invalid topic"},
		{"wrong method", "DELETE", "/topics/t", "", nil, 405, ""},
		{"browser client", "GET", adapters.ClientPath + "rxstream.js", "", nil, 200, "text/javascript"},
		{"browser types", "GET", adapters.ClientPath + "rxstream.d.ts", "", nil, 200, "export type Transport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			code, body := status(t, tc.method, s.url+tc.path, tc.body, header)
			if code != tc.want || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %q, want %d containing %q", code, body, tc.want, tc.contains)
			}
		})
	}
}

func TestPublishDisabled(t *testing.T) {
	s := newServer(t, nil)
	if code, _ := status(t, "POST", s.url+"/topics/t", "x", nil); code != 405 {
		t.Fatalf("POST without Publish: %d, want 405", code)
	}
}

func TestStreamEndpoint(t *testing.T) {
	s := newServer(t, nil)
	sc, _ := sse.NewClient(s.url+"/count", nil)
	if got := take(t, sc.Events(), 3); strings.Join(got, ",") != "0,1,2" {
		t.Fatalf("SSE: %v", got)
	}
	lp, _ := longpoll.NewClient(s.url+"/count?transport=longpoll", nil)
	if got := take(t, lp.Events(), 1); got[0] != "0" {
		t.Fatalf("long-poll: %v", got)
	}
	// A short-poll gets what a fresh producer emits at once: its first.
	sp, _ := shortpoll.NewClient(s.url+"/count?transport=poll", nil)
	if got := take(t, sp.Events(), 2); got[0] != "0" || got[1] != "0" {
		t.Fatalf("short-poll: %v", got)
	}
}

func TestAuthorizeEveryTransport(t *testing.T) {
	s := newServer(t, &adapters.Options{Publish: true, Authorize: func(r *http.Request, topic string, a adapters.Action) error {
		if topic == "secret" || (a == adapters.Publish && topic == "readonly") || (topic == "" && r.URL.Query().Has("deny")) {
			return &adapters.StatusError{Code: http.StatusForbidden, Message: "not for you"}
		}
		return nil
	}})
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		want         int
	}{
		{"GET", "/topics/secret", map[string]string{"Accept": "text/event-stream"}, 403},
		{"GET", "/topics/secret?transport=longpoll", nil, 403},
		{"GET", "/topics/secret?transport=poll", nil, 403},
		{"POST", "/topics/readonly", nil, 403},
		{"POST", "/topics/open", nil, 200},
		{"GET", "/topics/readonly?transport=poll", nil, 200},
		// A producer's stream names no topic: the hook is asked with "".
		{"GET", "/count?deny", map[string]string{"Accept": "text/event-stream"}, 403},
		{"GET", "/count?deny&transport=longpoll", nil, 403},
		{"GET", "/count?deny&transport=poll", nil, 403},
		{"GET", "/count?transport=poll", nil, 200},
	} {
		if code, body := status(t, tc.method, s.url+tc.path, "x", tc.header); code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, path := range []string{"/topics/secret", "/count?deny"} {
		_, resp, err := websocket.Dial(ctx, strings.Replace(s.url, "http", "ws", 1)+path, nil)
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("WebSocket to forbidden %s: %v %v", path, resp, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	all := []adapters.Transport{adapters.WebSocket, adapters.SSE, adapters.LongPoll, adapters.ShortPoll}
	for _, opts := range []*adapters.Options{
		{Disable: all},
		{Disable: []adapters.Transport{9}},
		{MaxPublish: -1},
	} {
		if _, err := adapters.New(opts); err == nil {
			t.Errorf("New(%+v) accepted", opts)
		}
	}
}
