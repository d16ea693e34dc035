package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	rxws "github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// The contract every transport keeps, as one table run against every
// transport, both behind the Endpoint and on the transport's own route, so
// that a transport that drifts fails by name. The routes name their topic
// parameter "room", not "topic": a check that reads the wrong parameter
// sees "" and fails the refusal rows.

// item is what a client received, in the same form on every transport: an
// event, or a gap notice (Event "gap", Data its JSON {"last","next"}); on a
// multiplexed connection each names its topic and ID is the event's own.
type item struct {
	ID, Event, Data string
	Topic           string
}

// answer is how a transport answered a request that asked for n items.
type answer struct {
	status     int
	retryAfter string
	message    string // of a refusal: its JSON {"message"}
	items      []item
	cursor     string // the cursor to resume from afterwards
}

// refused returns the answer of a refusal: its status, Retry-After and
// message.
func refused(resp *http.Response) answer {
	var body struct{ Message string }
	json.NewDecoder(io.LimitReader(resp.Body, 1024)).Decode(&body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), message: body.Message}
}

// A target is one transport on one kind of route; get asks it for the
// topic's items after the request's cursor, until it has n of them. A
// multiplexed target follows the topic and a second one, "side", on which
// nothing is published, with composite cursors; its items must all be the
// topic's.
type target struct {
	name  string
	path  string // the route, with :room; a multiplexed one takes ?topic=
	multi bool
	get   func(t *testing.T, u string, h http.Header, q url.Values, n int) answer
}

// ask is get for topic: the URL and, for a multiplexed target, the topics
// and the cursor as a composite one (the topic's position, none for side).
func (tg target) ask(t *testing.T, base, topic string, h http.Header, q url.Values, n int) answer {
	t.Helper()
	if !tg.multi {
		return tg.get(t, base+tg.path+topic, h, q, n)
	}
	return tg.askMulti(t, base, topic, h, q, n, func(c string) string { return ":" + c + "," })
}

// askMulti asks a multiplexed target, with the cursors of h and q made
// composite by composite.
func (tg target) askMulti(t *testing.T, base, topic string, h http.Header, q url.Values, n int, composite func(string) string) answer {
	t.Helper()
	h2, q2 := http.Header{}, url.Values{}
	for k, v := range h {
		h2[k] = slices.Clone(v)
		if k == "Last-Event-Id" || k == "Last-Event-ID" {
			for i := range v {
				h2[k][i] = composite(v[i])
			}
		}
	}
	for k, v := range q {
		for _, x := range v {
			if k == "cursor" || k == "lastEventId" {
				x = composite(x)
			}
			q2.Add(k, x)
		}
	}
	q2.Add("topic", topic)
	q2.Add("topic", "side")
	a := tg.get(t, base+tg.path, h2, q2, n)
	for i, it := range a.items {
		if it.Topic != topic {
			t.Fatalf("item %d of topic %q, want %q: %+v", i, it.Topic, topic, it)
		}
		a.items[i].Topic = ""
	}
	return a
}

// routers are the two ways a user serves rxstream: the standard library's
// mux, and echo through rxecho. Every contract row runs on both, with the
// same expectations.
var routers = []string{"net/http", "echo"}

// mount serves hub on every target's route of router: the Endpoint on
// /rooms/{room} (and its history on /rooms/{room}/history), each transport on /own/<transport>/{room} and
// /multi/<transport> behind the Authorize wrapper (the echo middleware on
// echo).
func mount(t *testing.T, router string, hub *framework.Hub, authorize adapters.AuthorizeFunc) http.Handler {
	ep, err := adapters.New(&adapters.Options{Authorize: authorize, Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	s, lp, sp, ws := &sse.Server{}, &longpoll.Server{}, &shortpoll.Server{}, &rxws.Server{}
	t.Cleanup(s.Close)
	t.Cleanup(lp.Close)
	t.Cleanup(sp.Close)
	t.Cleanup(ws.Close)
	room := adapters.Param("room")
	own := map[string]http.Handler{
		"/own/sse/{room}":       s.Topic(hub, room),
		"/own/longpoll/{room}":  lp.Topic(hub, room),
		"/own/poll/{room}":      sp.Topic(hub, room),
		"/own/websocket/{room}": ws.Topic(hub, room),
		"/multi/sse":            s.Topics(hub),
		"/multi/longpoll":       lp.Topics(hub),
		"/multi/poll":           sp.Topics(hub),
		"/multi/websocket":      ws.Topics(hub),
	}
	if router == "echo" {
		e := echo.New()
		var mw []echo.MiddlewareFunc
		if authorize != nil {
			mw = append(mw, rxecho.Authorize(authorize))
		}
		rxecho.Mount(e, "/rooms/:room", ep.Topic(hub, room))
		rxecho.Mount(e, "/rooms/:room/history", ep.History(hub, room))
		rxecho.Mount(e, "/topics", ep.Topics(hub))
		for path, h := range own {
			e.GET(strings.Replace(path, "{room}", ":room", 1), rxecho.Wrap(h), mw...)
		}
		return e
	}
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, room))
	mux.Handle("/rooms/{room}/history", ep.History(hub, room))
	mux.Handle("/topics", ep.Topics(hub))
	for path, h := range own {
		if authorize != nil {
			h = adapters.Authorize(h, authorize)
		}
		mux.Handle("GET "+path, h)
	}
	return mux
}

func targets() []target {
	var ts []target
	for _, route := range []string{"endpoint", "own", "endpoint-multi", "multi"} {
		for _, tr := range []string{"sse", "longpoll", "poll", "websocket"} {
			tg := target{name: route + "/" + tr}
			negotiate := true
			switch route {
			case "endpoint":
				tg.path = "/rooms/"
			case "own":
				tg.path, negotiate = "/own/"+tr+"/", false
			case "endpoint-multi":
				tg.path, tg.multi = "/topics", true
			case "multi":
				tg.path, tg.multi, negotiate = "/multi/"+tr, true, false
			}
			switch tr {
			case "sse":
				tg.get = sseGet(negotiate, tg.multi)
			case "longpoll", "poll":
				tg.get = pollGet(tr, negotiate)
			case "websocket":
				tg.get = wsGet()
			}
			ts = append(ts, tg)
		}
	}
	return ts
}

func sseGet(negotiate, multi bool) func(*testing.T, string, http.Header, url.Values, int) answer {
	return func(t *testing.T, u string, h http.Header, q url.Values, n int) answer {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := request(t, ctx, u, h, q)
		if negotiate {
			req.Header.Set("Accept", "text/event-stream")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return refused(resp)
		}
		a := answer{status: resp.StatusCode}
		d := sse.NewDecoder(resp.Body)
		for len(a.items) < n {
			ev, err := d.Next()
			if err != nil {
				t.Fatalf("after %d of %d items: %v", len(a.items), n, err)
			}
			it := item{ID: ev.ID, Event: ev.Name, Data: string(ev.Data)}
			if multi { // the data names the topic, and the event's own ID
				var m struct {
					Topic, ID, Data, Last, Next string
				}
				if err := json.Unmarshal(ev.Data, &m); err != nil {
					t.Fatal(err)
				}
				it.Topic, it.ID, it.Data = m.Topic, m.ID, m.Data
				if ev.Name == "gap" {
					g, _ := json.Marshal(framework.Gap{Last: m.Last, Next: m.Next})
					it.Data = string(g)
				}
			}
			a.items = append(a.items, notice(it))
		}
		a.cursor = d.LastEventID()
		return a
	}
}

func pollGet(transport string, negotiate bool) func(*testing.T, string, http.Header, url.Values, int) answer {
	return func(t *testing.T, u string, h http.Header, q url.Values, n int) answer {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q = maps(q)
		if negotiate {
			q.Set("transport", transport)
		}
		if transport == "longpoll" {
			q.Set("timeout", "2s") // a gap alone is held until then
		}
		resp, err := http.DefaultClient.Do(request(t, ctx, u, h, q))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return refused(resp)
		}
		a := answer{status: resp.StatusCode, cursor: resp.Header.Get(longpoll.CursorHeader)}
		var body struct {
			Events []struct{ Topic, ID, Event, Data string }
			Cursor string
			Gap    *framework.Gap
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Gap != nil {
			g, _ := json.Marshal(body.Gap)
			a.items = append(a.items, item{Event: "gap", Data: string(g)})
		}
		for _, ev := range body.Events {
			a.items = append(a.items, notice(item{ev.ID, ev.Event, ev.Data, ev.Topic}))
		}
		a.cursor = body.Cursor
		return a
	}
}

func wsGet() func(*testing.T, string, http.Header, url.Values, int) answer {
	return func(t *testing.T, u string, h http.Header, q url.Values, n int) answer {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u = "ws" + strings.TrimPrefix(u, "http")
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return refused(resp)
		}
		defer c.CloseNow()
		a := answer{status: http.StatusOK}
		pos := map[string]string{} // a multiplexed connection's cursor per topic
		for len(a.items) < n {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("after %d of %d items: %v", len(a.items), n, err)
			}
			var env struct{ Type, Topic, ID, Event, Data, Cursor string }
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatal(err)
			}
			if env.Type == "subscribed" { // a multiplexed topic's start
				pos[env.Topic] = env.Cursor
				continue
			}
			if env.ID != "" {
				pos[env.Topic] = env.ID
			}
			a.items = append(a.items, notice(item{env.ID, env.Event, env.Data, env.Topic}))
			if env.ID != "" {
				a.cursor = env.ID
			}
		}
		if topics := q["topic"]; len(topics) > 0 {
			// A multiplexed connection's client builds its composite
			// cursor from each topic's own.
			var cs []string
			for _, tp := range topics {
				cs = append(cs, pos[tp])
			}
			a.cursor = ":" + strings.Join(cs, ",")
		}
		return a
	}
}

// notice drops the ID of a gap notice: the streams give it the cursor to
// resume from, the polls carry that cursor in the answer.
func notice(it item) item {
	if it.Event == "gap" {
		it.ID = ""
	}
	return it
}

func request(t *testing.T, ctx context.Context, u string, h http.Header, q url.Values) *http.Request {
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

func maps(q url.Values) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	return c
}

// flaky is a broker whose Follow and Read fail while down is set: a broker
// outage as the Hub sees it.
type flaky struct {
	framework.Broker
	down atomic.Bool
}

var errDown = errors.New("broker down")

func (b *flaky) Read(ctx context.Context, topic string, after uint64, limit int) (framework.Page, error) {
	if b.down.Load() {
		return framework.Page{}, errDown
	}
	return b.Broker.Read(ctx, topic, after, limit)
}

func (b *flaky) ReadBefore(ctx context.Context, topic string, before uint64, limit int) (framework.Page, error) {
	if b.down.Load() {
		return framework.Page{}, errDown
	}
	return b.Broker.(framework.Rewinder).ReadBefore(ctx, topic, before, limit)
}

func (b *flaky) ReadSince(ctx context.Context, topic string, since time.Time, limit int) (framework.Page, error) {
	if b.down.Load() {
		return framework.Page{}, errDown
	}
	return b.Broker.(framework.Rewinder).ReadSince(ctx, topic, since, limit)
}

func (b *flaky) Follow(topic string, fn func(framework.Record, error)) (framework.Cursor, func(), error) {
	if b.down.Load() {
		return framework.Cursor{}, nil, errDown
	}
	return b.Broker.Follow(topic, fn)
}

func TestContract(t *testing.T) {
	// ids are the IDs of the events "1", "2", "3" that each row's topic
	// holds; rows build their request from them.
	type ids []string
	gap := func(last, next string) item {
		g, _ := json.Marshal(framework.Gap{Last: last, Next: next})
		return item{Event: "gap", Data: string(g)}
	}
	ev := func(id, data string) item { return item{ID: id, Data: data} }
	header := func(k, v string) http.Header { return http.Header{k: {v}} }
	query := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			q.Add(kv[i], kv[i+1])
		}
		return q
	}
	epoch := func(id string) string { e, _, _ := strings.Cut(id, "-"); return e }

	for _, row := range []struct {
		name  string
		topic string // default: a fresh one per row and target
		hub   framework.HubOptions
		// memory: the broker's limits; setup runs before the request.
		memory framework.MemoryOptions
		setup  func(t *testing.T, hub *framework.Hub, b *flaky, topic string)
		req    func(ids) (http.Header, url.Values)
		// want: the status, and for 200 the items received (the item IDs
		// of events are checked, a gap's data too); says: what a refusal's
		// message holds.
		status int
		want   func(ids) []item
		says   string
	}{
		{name: "header resumes from the middle",
			req:    func(id ids) (http.Header, url.Values) { return header("Last-Event-ID", id[0]), nil },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "cursor query resumes from the middle",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0]) },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "lastEventId query resumes from the middle",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("lastEventId", id[0]) },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "the header wins over the query (EventSource reconnecting)",
			req: func(id ids) (http.Header, url.Values) {
				return header("Last-Event-ID", id[1]), query("lastEventId", id[0])
			},
			status: 200, want: func(id ids) []item { return []item{ev(id[2], "3")} }},
		{name: "the same cursor in both query spellings",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0], "lastEventId", id[0]) },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "two different cursors in the query",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0], "lastEventId", id[1]) },
			status: 400},
		{name: "one cursor spelling repeated with two values",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0], "cursor", id[1]) },
			status: 400},
		{name: "a stale epoch gets a gap, then everything retained",
			req: func(id ids) (http.Header, url.Values) { return nil, query("cursor", "zz0-2") },
			want: func(id ids) []item {
				return []item{gap("zz0-2", id[0]), ev(id[0], "1"), ev(id[1], "2"), ev(id[2], "3")}
			},
			status: 200},
		{name: "a cursor ahead of the tip gets a gap that resumes from the tip",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", epoch(id[0])+"-42") },
			want:   func(id ids) []item { return []item{gap(epoch(id[0])+"-42", "")} },
			status: 200},
		{name: "a bare cursor ahead of the tip gets a gap that resumes from the tip",
			req:    func(id ids) (http.Header, url.Values) { return header("Last-Event-ID", "42"), nil },
			want:   func(id ids) []item { return []item{gap("42", "")} },
			status: 200},
		{name: "a malformed cursor",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", "not a cursor") },
			status: 400},
		{name: "a cursor longer than 64 bytes",
			req:    func(id ids) (http.Header, url.Values) { return header("Last-Event-ID", strings.Repeat("7", 65)), nil },
			status: 400},
		{name: "an invalid topic name", topic: "a..b",
			req:    func(id ids) (http.Header, url.Values) { return nil, nil },
			status: 400},
		{name: "a topic the hook refuses", topic: "admin",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0]) },
			status: 403},
		{name: "a topic the hook refuses with its own status", topic: "login",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0]) },
			status: 401},
		{name: "a full topic",
			hub: framework.HubOptions{MaxSubscribers: 1},
			setup: func(t *testing.T, hub *framework.Hub, _ *flaky, topic string) {
				sub, err := hub.Subscribe(topic, "")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(sub.Close)
			},
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0]) },
			status: 503},
		{name: "a hub with no room for a new topic",
			hub:    framework.HubOptions{MaxTopics: 1}, // the row's topic takes it...
			topic:  "another",                          // ...and this one is refused
			req:    func(id ids) (http.Header, url.Values) { return nil, nil },
			status: 503},
		{name: "rewind gets the last events, then live",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "2") },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "since gets the events of the last duration",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("since", "1m") },
			status: 200, want: func(id ids) []item { return []item{ev(id[0], "1"), ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "a cursor wins over rewind",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[1], "rewind", "3") },
			status: 200, want: func(id ids) []item { return []item{ev(id[2], "3")} }},
		{name: "the header's cursor wins over since",
			req:    func(id ids) (http.Header, url.Values) { return header("Last-Event-ID", id[0]), query("since", "1h") },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "rewinding more than is retained starts at the oldest, without a gap",
			memory: framework.MemoryOptions{MaxEvents: 2},
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "1000") },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "since longer than is retained starts at the oldest, without a gap",
			memory: framework.MemoryOptions{MaxEvents: 2},
			req:    func(id ids) (http.Header, url.Values) { return nil, query("since", "168h") },
			status: 200, want: func(id ids) []item { return []item{ev(id[1], "2"), ev(id[2], "3")} }},
		{name: "a negative rewind",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "-1") },
			status: 400, says: `rewind="-1"`},
		{name: "a rewind beyond the cap",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "1001") },
			status: 400, says: "rewind=1001: at most 1000"},
		{name: "a huge rewind",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "99999999999999999999") },
			status: 400, says: "rewind="},
		{name: "an unparsable rewind",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "ten") },
			status: 400, says: `rewind="ten"`},
		{name: "a negative since",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("since", "-5s") },
			status: 400, says: `since="-5s" is negative`},
		{name: "a since beyond the cap",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("since", "169h") },
			status: 400, says: `since="169h": at most`},
		{name: "an unparsable since",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("since", "30") },
			status: 400, says: `since="30": want a duration`},
		{name: "both rewind and since",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "1", "since", "1m") },
			status: 400, says: "together"},
		{name: "a bad rewind with a cursor is still refused",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0], "rewind", "-1") },
			status: 400, says: "rewind"},
		{name: "rewind given twice",
			req:    func(id ids) (http.Header, url.Values) { return nil, query("rewind", "1", "rewind", "2") },
			status: 400, says: "rewind given twice"},
		{name: "a broker outage",
			setup:  func(t *testing.T, _ *framework.Hub, b *flaky, _ string) { b.down.Store(true) },
			req:    func(id ids) (http.Header, url.Values) { return nil, query("cursor", id[0]) },
			status: 503},
	} {
		t.Run(row.name, func(t *testing.T) {
			for _, router := range routers {
				for _, tg := range targets() {
					t.Run(router+"/"+tg.name, func(t *testing.T) {
						b := &flaky{Broker: must(framework.NewMemoryBroker(&row.memory))}
						opts := row.hub
						opts.Broker = b
						hub := must(framework.NewHub(&opts))
						t.Cleanup(func() { hub.Close() })
						ts := httptest.NewServer(mount(t, router, hub, func(r *http.Request, topic string, a adapters.Action) error {
							switch topic {
							case "admin":
								return errors.New("admins only")
							case "login":
								return &adapters.StatusError{Code: http.StatusUnauthorized, Message: "token needed"}
							}
							return nil
						}))
						t.Cleanup(ts.Close)

						seeded := "room"
						var id ids
						for i := 1; i <= 3; i++ {
							c, err := hub.Publish(context.Background(), seeded, framework.Text(strconv.Itoa(i)))
							if err != nil {
								t.Fatal(err)
							}
							id = append(id, c)
						}
						topic := seeded
						if row.topic != "" {
							topic = row.topic
						}
						if row.setup != nil {
							row.setup(t, hub, b, topic)
						}
						h, q := row.req(id)
						var want []item
						if row.want != nil {
							want = row.want(id)
						}
						a := tg.ask(t, ts.URL, topic, h, q, len(want))
						if a.status != row.status {
							t.Fatalf("status %d (%q), want %d", a.status, a.message, row.status)
						}
						if !strings.Contains(a.message, row.says) {
							t.Fatalf("refused with %q, want it to say %q", a.message, row.says)
						}
						if a.status == http.StatusServiceUnavailable {
							if s, err := strconv.Atoi(a.retryAfter); err != nil || s < 1 {
								t.Fatalf("503 with Retry-After %q, want whole seconds", a.retryAfter)
							}
						}
						if a.status != http.StatusOK {
							return
						}
						if !slices.Equal(a.items, want) {
							t.Fatalf("received\n%v\nwant\n%v", a.items, want)
						}
						// Resuming from where the answer left off gets exactly
						// the next event: nothing lost, nothing repeated.
						next, err := hub.Publish(context.Background(), topic, framework.Text("next"))
						if err != nil {
							t.Fatal(err)
						}
						if a.cursor == "" {
							t.Fatal("no cursor to resume from")
						}
						q = query("cursor", a.cursor)
						if tg.multi { // the cursor is composite already
							a = tg.askMulti(t, ts.URL, topic, nil, q, 1, func(c string) string { return c })
						} else {
							a = tg.ask(t, ts.URL, topic, nil, q, 1)
						}
						if want := []item{ev(next, "next")}; a.status != 200 || !slices.Equal(a.items, want) {
							t.Fatalf("resuming: status %d, %v, want %v", a.status, a.items, want)
						}
					})
				}
			}
		})
	}
}

// TestPublishAuthorizedTopic: POST on a route whose parameter is not
// "topic" asks the hook about the topic it publishes to.
func TestPublishAuthorizedTopic(t *testing.T) {
	hub := must(framework.NewHub(nil))
	defer hub.Close()
	var asked []string
	for _, router := range routers {
		t.Run(router, func(t *testing.T) {
			ts := httptest.NewServer(mount(t, router, hub, func(r *http.Request, topic string, a adapters.Action) error {
				asked = append(asked, fmt.Sprint(a, " ", topic))
				if topic == "admin" {
					return errors.New("admins only")
				}
				return nil
			}))
			defer ts.Close()
			publishAsks(t, ts.URL, &asked)
		})
	}
}

func publishAsks(t *testing.T, base string, asked *[]string) {
	for _, tc := range []struct {
		topic string
		want  int
	}{{"admin", 403}, {"lobby", 200}, {"a..b", 400}} {
		*asked = nil
		resp, err := http.Post(base+"/rooms/"+tc.topic, "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s: %d, want %d", tc.topic, resp.StatusCode, tc.want)
		}
		wantAsked := []string{"publish " + tc.topic}
		if tc.want == 400 {
			wantAsked = nil // an invalid name is refused before the hook
		}
		if !slices.Equal(*asked, wantAsked) {
			t.Errorf("POST %s: hook asked %v, want %v", tc.topic, *asked, wantAsked)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMultiplexedRefusals: what only a multiplexed request can get wrong
// is refused alike by every transport, naming what is wrong.
func TestMultiplexedRefusals(t *testing.T) {
	hub := must(framework.NewHub(nil))
	defer hub.Close()
	many := url.Values{}
	for i := range 65 {
		many.Add("topic", fmt.Sprint("t", i))
	}
	for _, row := range []struct {
		name   string
		q      url.Values
		status int
		says   string
	}{
		{"no topic", url.Values{}, 400, "no topic"},
		{"a topic named twice", url.Values{"topic": {"a", "b", "a"}}, 400, `"a" named twice`},
		{"more topics than allowed", many, 400, "65 topics, at most 64"},
		{"an invalid topic", url.Values{"topic": {"a", "a..b"}}, 400, "a..b"},
		{"a cursor for another number of topics", url.Values{"topic": {"a", "b"}, "cursor": {"x1:1,2,3"}}, 400, "names 3 topics, the request 2"},
		{"one topic the hook refuses", url.Values{"topic": {"a", "admin"}}, 403, "admins only"},
		{"a rewind list for another number of topics", url.Values{"topic": {"a", "b"}, "rewind": {"1,2,3"}}, 400, `rewind="1,2,3" names 3 topics, the request 2`},
		{"a bad rewind in a list", url.Values{"topic": {"a", "b"}, "rewind": {"1,x"}}, 400, `rewind="x"`},
		{"rewind and since for one topic", url.Values{"topic": {"a", "b"}, "rewind": {",1"}, "since": {",1m"}}, 400, "together"},
	} {
		t.Run(row.name, func(t *testing.T) {
			for _, router := range routers {
				ts := httptest.NewServer(mount(t, router, hub, func(r *http.Request, topic string, a adapters.Action) error {
					if topic == "admin" {
						return errors.New("admins only")
					}
					return nil
				}))
				t.Cleanup(ts.Close)
				for _, tg := range targets() {
					if !tg.multi {
						continue
					}
					t.Run(router+"/"+tg.name, func(t *testing.T) {
						status, msg := refusal(t, tg, ts.URL+tg.path, row.q)
						if status != row.status || !strings.Contains(msg, row.says) {
							t.Fatalf("%d %q, want %d saying %q", status, msg, row.status, row.says)
						}
					})
				}
			}
		})
	}
}

// refusal asks tg and returns the status and message of its refusal.
func refusal(t *testing.T, tg target, u string, q url.Values) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q = maps(q)
	var h http.Header
	switch {
	case strings.HasSuffix(tg.name, "/websocket"):
		h = http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
			"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	case strings.HasPrefix(tg.name, "endpoint"):
		q.Set("transport", map[string]string{"/sse": "sse", "/longpoll": "longpoll", "/poll": "poll"}[tg.name[strings.LastIndex(tg.name, "/"):]])
	}
	resp, err := http.DefaultClient.Do(request(t, ctx, u, h, q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Message string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Message
}

// TestRewindPerTopic: each topic of a multiplexed request rewinds on its
// own: one value for every topic, or a list with one per topic in the
// request's order; a topic with a position in the composite cursor
// resumes from it instead.
func TestRewindPerTopic(t *testing.T) {
	for _, row := range []struct {
		name string
		q    func(ids map[string][]string) url.Values
		want func(ids map[string][]string) map[string][]string
	}{
		{"one value for every topic",
			func(map[string][]string) url.Values { return url.Values{"rewind": {"2"}} },
			func(id map[string][]string) map[string][]string {
				return map[string][]string{"a": id["a"][1:], "b": id["b"][1:]}
			}},
		{"a value per topic",
			func(map[string][]string) url.Values { return url.Values{"rewind": {"1,3"}} },
			func(id map[string][]string) map[string][]string {
				return map[string][]string{"a": id["a"][2:], "b": id["b"]}
			}},
		{"none for one topic, since for the other",
			func(map[string][]string) url.Values { return url.Values{"since": {",1h"}} },
			func(id map[string][]string) map[string][]string { return map[string][]string{"b": id["b"]} }},
		{"a position wins over its topic's rewind",
			func(id map[string][]string) url.Values {
				return url.Values{"rewind": {"3"}, "cursor": {":" + id["a"][1] + ","}}
			},
			func(id map[string][]string) map[string][]string {
				return map[string][]string{"a": id["a"][2:], "b": id["b"]}
			}},
	} {
		t.Run(row.name, func(t *testing.T) {
			for _, router := range routers {
				for _, tg := range targets() {
					if !tg.multi {
						continue
					}
					t.Run(router+"/"+tg.name, func(t *testing.T) {
						hub := must(framework.NewHub(nil))
						t.Cleanup(func() { hub.Close() })
						ts := httptest.NewServer(mount(t, router, hub, nil))
						t.Cleanup(ts.Close)
						ids := map[string][]string{}
						for _, topic := range []string{"a", "b"} {
							for i := 1; i <= 3; i++ {
								ids[topic] = append(ids[topic], must(hub.Publish(context.Background(), topic, framework.Text(topic+strconv.Itoa(i)))))
							}
						}
						want := row.want(ids)
						n := 0
						for _, w := range want {
							n += len(w)
						}
						q := row.q(ids)
						q["topic"] = []string{"a", "b"}
						a := tg.get(t, ts.URL+tg.path, nil, q, n)
						got := map[string][]string{}
						for _, it := range a.items {
							got[it.Topic] = append(got[it.Topic], it.ID)
						}
						if a.status != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("status %d (%s), got %v, want %v", a.status, a.message, got, want)
						}
					})
				}
			}
		})
	}
}
