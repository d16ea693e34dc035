package adapters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/internal/pipenet"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
)

// Presence over every transport, one table: a watcher that asked for
// presence=true sees the joins and leaves of users, in order, and those
// users (connected over any transport) are listed by the presence route.

// presenceEnv serves a hub whose leaves are announced at once, behind a
// hook that takes the user from ?user= and gives it an info object.
type presenceEnv struct {
	hub *framework.Hub
	srv *httptest.Server
}

func newPresenceEnv(t *testing.T) *presenceEnv {
	t.Helper()
	hub := must(framework.NewHub(&framework.HubOptions{PresenceWindow: -1}))
	t.Cleanup(func() { hub.Close() })
	ep := must(adapters.New(&adapters.Options{Authorize: func(r *http.Request, topic string, _ adapters.Action) error {
		if u := r.URL.Query().Get("user"); u != "" {
			adapters.SetUser(r, u)
			if u == "huge" {
				return adapters.SetInfo(r, strings.Repeat("x", framework.MaxInfoSize))
			}
			return adapters.SetInfo(r, map[string]string{"name": strings.ToUpper(u)})
		}
		return nil
	}}))
	t.Cleanup(ep.Close)
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
	mux.Handle("GET /rooms/{room}/presence", ep.Presence(hub, adapters.Param("room")))
	mux.Handle("/topics", ep.Topics(hub))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &presenceEnv{hub: hub, srv: srv}
}

// presence lists room's members as "user:conns:info" strings.
func (v *presenceEnv) presence(t *testing.T, query string) ([]string, int) {
	t.Helper()
	resp, err := http.Get(v.srv.URL + "/rooms/room/presence" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page framework.PresencePage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("presence: %d, %v", resp.StatusCode, err)
	}
	var out []string
	for _, m := range page.Members {
		out = append(out, fmt.Sprintf("%s:%d:%s", m.User, m.Conns, m.Info))
	}
	return out, page.Anonymous
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

// presenceItem turns an envelope-like event into "join alice", or "" for
// an event that is not a presence event. topic is the envelope's (or
// multiplexed SSE data's) topic, "" on a single-topic connection.
func presenceItem(t *testing.T, name, id, data string) string {
	if name != framework.EventJoin && name != framework.EventLeave {
		return ""
	}
	var m framework.Member
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Errorf("presence event data %q: %v", data, err)
	}
	if id != "" {
		t.Errorf("presence event with id %q", id)
	}
	return name + " " + m.User
}

// A presenceWatcher follows room with presence=true until ctx ends and
// sends the presence events it sees; subs is the number of hub
// subscriptions it holds while connected (or held, for a poll).
type presenceWatcher struct {
	name  string
	subs  int
	watch func(t *testing.T, ctx context.Context, base string, out chan<- string)
}

func presenceWatchers() []presenceWatcher {
	sseWatch := func(path string, multi bool) func(*testing.T, context.Context, string, chan<- string) {
		return func(t *testing.T, ctx context.Context, base string, out chan<- string) {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			d := sse.NewDecoder(resp.Body)
			last := "" // the stream's Last-Event-ID: presence events leave it be
			for {
				ev, err := d.Next()
				if err != nil {
					return
				}
				if last != "" && ev.ID != last {
					t.Errorf("SSE id %q after %q, and nothing published", ev.ID, last)
				}
				if multi && (strings.Contains(ev.ID, ":,") || strings.HasSuffix(ev.ID, ",")) {
					t.Errorf("SSE id %q: a topic without its position", ev.ID)
				}
				last = ev.ID
				id, data := "", string(ev.Data)
				if multi {
					var m struct{ Topic, ID, Data string }
					json.Unmarshal(ev.Data, &m)
					id, data = m.ID, m.Data
				}
				if s := presenceItem(t, ev.Name, id, data); s != "" {
					out <- s
				}
			}
		}
	}
	wsWatch := func(path, subscribe string) func(*testing.T, context.Context, string, chan<- string) {
		return func(t *testing.T, ctx context.Context, base string, out chan<- string) {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+path, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			if subscribe != "" {
				if err := c.Write(ctx, websocket.MessageText, []byte(subscribe)); err != nil {
					return
				}
			}
			for {
				_, p, err := c.Read(ctx)
				if err != nil {
					return
				}
				var e struct{ Type, Topic, ID, Event, Data string }
				json.Unmarshal(p, &e)
				if e.Type == "error" {
					t.Errorf("websocket: %s", p)
				}
				if s := presenceItem(t, e.Event, e.ID, e.Data); s != "" {
					out <- s
				}
			}
		}
	}
	pollWatch := func(path string) func(*testing.T, context.Context, string, chan<- string) {
		return func(t *testing.T, ctx context.Context, base string, out chan<- string) {
			cursor := ""
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", base+path+"&cursor="+url.QueryEscape(cursor), nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				var body struct {
					Events []struct{ Topic, ID, Event, Data string }
					Cursor string
				}
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("long-poll: %d, %v", resp.StatusCode, err)
					return
				}
				for _, e := range body.Events {
					if s := presenceItem(t, e.Event, e.ID, e.Data); s != "" {
						out <- s
					}
				}
				// Presence events are no position: the cursor stays the
				// topic's tip, as nothing is published.
				if body.Cursor == "" || (cursor != "" && body.Cursor != cursor) {
					t.Errorf("long-poll cursor %q after %q", body.Cursor, cursor)
				}
				cursor = body.Cursor
			}
		}
	}
	return []presenceWatcher{
		{"sse", 1, sseWatch("/rooms/room?presence=true", false)},
		{"sse/topics", 2, sseWatch("/topics?topic=room&topic=side&presence=true", true)},
		{"websocket", 1, wsWatch("/rooms/room?presence=true", "")},
		{"websocket/subscribe", 2, wsWatch("/topics?topic=side", `{"type":"subscribe","topic":"room","presence":true}`)},
		{"longpoll", 1, pollWatch("/rooms/room?transport=longpoll&presence=true")},
		{"longpoll/topics", 2, pollWatch("/topics?topic=room&topic=side&transport=longpoll&presence=true")},
		// A short-poll answers at once: it holds a subscription for no
		// time in which a join or leave could happen. Its clients list
		// the members instead (TestPresenceListsEveryTransport).
	}
}

// connect holds an SSE stream to room as user until the returned
// function is called.
func (v *presenceEnv) connect(t *testing.T, user string) (leave func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", v.srv.URL+"/rooms/room?user="+user, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("connect %s: %v", user, err)
	}
	var once sync.Once
	leave = func() { once.Do(func() { cancel(); resp.Body.Close() }) }
	t.Cleanup(leave) // before the server's Close, which waits for it
	return leave
}

func TestPresenceEventsEveryTransport(t *testing.T) {
	for _, w := range presenceWatchers() {
		t.Run(w.name, func(t *testing.T) {
			v := newPresenceEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			events := make(chan string, 64)
			done := make(chan struct{})
			go func() { defer close(done); w.watch(t, ctx, v.srv.URL, events) }()
			defer func() { cancel(); <-done }()

			open := map[string]func(){}
			steps := []string{"join alice", "join bob", "leave alice", "join alice", "leave bob", "join carol", "leave alice", "leave carol"}
			for _, step := range steps {
				// A poll sees what happens while it is held: wait for
				// the watcher's subscriptions beside the users' own.
				eventually(t, "the watcher held", func() bool { return v.hub.Stats().Subscribers == w.subs+len(open) })
				verb, user, _ := strings.Cut(step, " ")
				if verb == "join" {
					open[user] = v.connect(t, user)
				} else {
					open[user]()
					delete(open, user)
				}
				select {
				case got := <-events:
					if got != step {
						t.Fatalf("got %q, want %q (steps %v)", got, step, steps)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no %q", step)
				}
			}
			select {
			case got := <-events:
				t.Fatalf("an event more: %q", got)
			default:
			}
		})
	}
}

// TestPresenceListsEveryTransport: a user's connection over each
// transport is listed while it is open, with its info, and goes when it
// ends.
func TestPresenceListsEveryTransport(t *testing.T) {
	rows := []struct {
		name  string
		users int // the subscriptions of the connection that are room's
		open  func(ctx context.Context, base string) error
	}{
		{"sse", 1, func(ctx context.Context, base string) error {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/rooms/room?user=ann", nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			return err
		}},
		{"websocket/topics", 1, func(ctx context.Context, base string) error {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/topics?topic=room&topic=side&user=ann", nil)
			if err != nil {
				return err
			}
			defer c.CloseNow()
			_, _, err = c.Read(ctx)
			for err == nil {
				_, _, err = c.Read(ctx)
			}
			return nil
		}},
		{"longpoll", 1, func(ctx context.Context, base string) error {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/rooms/room?transport=longpoll&user=ann", nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			v := newPresenceEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); row.open(ctx, v.srv.URL) }()
			want := `[ann:1:{"name":"ANN"}]`
			eventually(t, "ann listed", func() bool { got, _ := v.presence(t, ""); return fmt.Sprint(got) == want })
			cancel()
			<-done
			eventually(t, "ann gone", func() bool { got, _ := v.presence(t, ""); return len(got) == 0 })
		})
	}
}

// TestPresenceRoute: paging, the anonymous count, and the refusals.
func TestPresenceRoute(t *testing.T) {
	v := newPresenceEnv(t)
	for _, u := range []string{"cid", "ann", "bob", "ann", ""} {
		defer v.connect(t, u)()
	}
	got, anon := v.presence(t, "")
	if want := `[ann:2:{"name":"ANN"} bob:1:{"name":"BOB"} cid:1:{"name":"CID"}]`; fmt.Sprint(got) != want || anon != 1 {
		t.Fatalf("got %v anonymous %d, want %s anonymous 1", got, anon, want)
	}
	if got, _ := v.presence(t, "?limit=1&after=ann"); fmt.Sprint(got) != `[bob:1:{"name":"BOB"}]` {
		t.Fatalf("limit=1&after=ann: %v", got)
	}
	for _, c := range []struct {
		path, message string
		status        int
	}{
		{"/rooms/room/presence?limit=0", "limit", 400},
		{"/rooms/room/presence?limit=1001", "limit", 400},
		{"/rooms/room?presence=maybe", "presence", 400},
		{"/rooms/room?user=huge", "info of 1026 bytes", 403},
	} {
		req, _ := http.NewRequest("GET", v.srv.URL+c.path, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		a := refused(resp)
		resp.Body.Close()
		if a.status != c.status || !strings.Contains(a.message, c.message) {
			t.Errorf("%s: %d %q, want %d naming %q", c.path, a.status, a.message, c.status, c.message)
		}
	}
	resp, err := http.Post(v.srv.URL+"/rooms/room/presence", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST presence: %d", resp.StatusCode)
	}
}

// TestPresenceShortPoll: a short poll reads without subscribing, and its
// user is present for the instant of its request and the interval it
// suggests: a watcher sees it join and (without a coalescing window)
// leave; presence=true on the poll
// itself is accepted and answers no presence event.
func TestPresenceShortPoll(t *testing.T) {
	v := newPresenceEnv(t)
	w := presenceWatchers()[0] // sse
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan string, 64)
	done := make(chan struct{})
	go func() { defer close(done); w.watch(t, ctx, v.srv.URL, events) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the watcher held", func() bool { return v.hub.Stats().Subscribers == w.subs })
	resp, err := http.Get(v.srv.URL + "/rooms/room?transport=poll&user=ann&presence=true")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(body), "join") {
		t.Fatalf("short poll: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"join ann", "leave ann"} {
		select {
		case got := <-events:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
}

// TestPresenceShortPollHold: at the default settings (a 2 s interval and
// a 2 s window), a user that short-polls at the interval its answers
// suggest joins once, and leaves once after it stops.
func TestPresenceShortPollHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := &framework.Hub{}
		defer hub.Close()
		ep := must(adapters.New(&adapters.Options{Authorize: func(r *http.Request, _ string, _ adapters.Action) error {
			adapters.SetUser(r, r.URL.Query().Get("user"))
			return nil
		}}))
		defer ep.Close()
		mux := http.NewServeMux()
		mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
		l := pipenet.Listen()
		srv := &http.Server{Handler: mux}
		go srv.Serve(l)
		defer srv.Close()
		client := l.Client()
		defer client.CloseIdleConnections()
		w := must(hub.SubscribeWith("room", "", &framework.SubscribeOptions{Presence: true}))
		defer w.Close()
		events := func() (got []string) {
			for {
				b, err := w.Poll(context.Background(), 0)
				if err != nil || len(b.Events) == 0 {
					return got
				}
				for _, ev := range b.Events {
					var m framework.Member
					json.Unmarshal(ev.Data, &m)
					got = append(got, ev.Name+" "+m.User)
				}
			}
		}
		for range 5 {
			resp, err := client.Get("http://pipe/rooms/room?transport=poll&user=ann")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ms, err := strconv.Atoi(resp.Header.Get(shortpoll.IntervalHeader))
			if resp.StatusCode != 200 || err != nil || ms <= 0 {
				t.Fatalf("short poll: %d, interval %q", resp.StatusCode, resp.Header.Get(shortpoll.IntervalHeader))
			}
			time.Sleep(time.Duration(ms)*time.Millisecond + 10*time.Millisecond) // and the time to answer
		}
		if got := fmt.Sprint(events()); got != "[join ann]" {
			t.Fatalf("while polling: %s, want [join ann]", got)
		}
		time.Sleep(shortpoll.DefaultInterval + framework.DefaultPresenceWindow)
		if got := fmt.Sprint(events()); got != "[leave ann]" {
			t.Fatalf("after the last poll: %s, want [leave ann]", got)
		}
	})
}
