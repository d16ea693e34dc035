package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/internal/browsertest"
)

// muxPage installs window.mux in a page of the origin: one stream of the
// browser client at path for several topics, recording what each topic's
// subscription received. mux.open(transports) replaces the stream with
// one on those transports, each topic resuming from its own cursor, as
// the showcase's transport switch does.
const muxPage = `(async () => {
	const { connect } = await import('/_rxstream/rxstream.js');
	const m = window.mux = { got: {}, gaps: [], opens: [], errors: [], live: {}, stream: null, subs: new Map() };
	m.open = (path, transports) => {
		const cursors = [...m.subs].map(([t, s]) => [t, s.cursor]);
		if (m.stream) m.stream.close();
		m.subs.clear();
		m.live = {};
		m.stream = connect(path, { transports, openTimeout: 10000,
			onOpen: (t) => m.opens.push(t), onError: (e, t) => m.errors.push(t + ': ' + e.message) });
		for (const [t, c] of cursors) m.sub(t, c);
	};
	m.sub = (topic, cursor) => {
		m.got[topic] = m.got[topic] || [];
		m.subs.set(topic, m.stream.subscribe(topic, { cursor,
			onOpen: () => { m.live[topic] = (m.live[topic] || 0) + 1; },
			onEvent: (e) => m.got[topic].push({ d: e.data, t: e.transport, topic: e.topic }),
			onGap: (g) => m.gaps.push(g) }));
	};
})()`

// muxState is window.mux as the test reads it.
type muxState struct {
	Got map[string][]struct {
		D     string `json:"d"`
		T     string `json:"t"`
		Topic string `json:"topic"`
	} `json:"got"`
	Gaps   []map[string]string `json:"gaps"`
	Opens  []string            `json:"opens"`
	Errors []string            `json:"errors"`
	Live   map[string]int      `json:"live"`
}

func readMux(t *testing.T, ctx context.Context) muxState {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({got: mux.got, gaps: mux.gaps, opens: mux.opens, errors: mux.errors, live: mux.live})`))
	if err != nil {
		t.Fatal(err)
	}
	var m muxState
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitMux polls window.mux until cond holds, for at most 30 s.
func waitMux(t *testing.T, ctx context.Context, what string, cond func(muxState) bool) muxState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := readMux(t, ctx)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; the page has opens %v errors %v live %v gaps %v, events per topic %v", what, m.Opens, m.Errors, m.Live, m.Gaps, counts(m))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func counts(m muxState) map[string]int {
	c := map[string]int{}
	for topic, evs := range m.Got {
		c[topic] = len(evs)
	}
	return c
}

func evalJS(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
}

// subscribeJS subscribes topics in one tick.
func subscribeJS(topics []string) string {
	b, _ := json.Marshal(topics)
	return fmt.Sprintf(`for (const t of %s) mux.sub(t)`, b)
}

// allLive: every topic's subscription is live on the current stream.
func allLive(topics []string) func(muxState) bool {
	return func(m muxState) bool {
		for _, topic := range topics {
			if m.Live[topic] == 0 {
				return false
			}
		}
		return true
	}
}

// topicNames returns n topic names with prefix.
func topicNames(prefix string, n int) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("%s%d", prefix, i))
	}
	return names
}

// topicLog publishes to topics and remembers, per topic, what it
// published in order. All methods may be called concurrently.
type topicLog struct {
	t    *testing.T
	base string
	mu   sync.Mutex
	sent map[string][]string
}

func newTopicLog(t *testing.T, base string) *topicLog {
	return &topicLog{t: t, base: base, sent: map[string][]string{}}
}

func (l *topicLog) publish(topic string) {
	l.mu.Lock()
	data := topic + " " + strconv.Itoa(len(l.sent[topic])) + " 你好"
	l.sent[topic] = append(l.sent[topic], data)
	l.mu.Unlock()
	resp, err := http.Post(l.base+"/topics/"+topic, "text/plain", strings.NewReader(data))
	if err != nil {
		l.t.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.t.Errorf("publish to %s: %s", topic, resp.Status)
	}
}

// each publishes n events to every topic, round robin.
func (l *topicLog) each(topics []string, n int) {
	for range n {
		for _, topic := range topics {
			l.publish(topic)
		}
	}
}

// run publishes round robin to topics until stop is called, which returns
// once the last publish has been answered.
func (l *topicLog) run(topics []string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ { // bounded
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			l.publish(topics[i%len(topics)])
		}
	}()
	return func() { close(done); wg.Wait() }
}

// received: the page has as many events of each topic as were published.
func (l *topicLog) received(m muxState) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, sent := range l.sent {
		if len(m.Got[topic]) < len(sent) {
			return false
		}
	}
	return true
}

// check: every topic got what was published to it, once, in order, and
// no gap notice.
func (l *topicLog) check(t *testing.T, m muxState) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, sent := range l.sent {
		got := m.Got[topic]
		var data []string
		for _, ev := range got {
			data = append(data, ev.D)
			if ev.Topic != topic {
				t.Errorf("an event of %s names topic %q", topic, ev.Topic)
			}
		}
		if !slices.Equal(data, sent) {
			t.Errorf("topic %s: got %d events %q, published %d %q", topic, len(data), data, len(sent), sent)
		}
	}
	if len(m.Gaps) > 0 {
		t.Errorf("gap notices %v", m.Gaps)
	}
}

// topicRequests records the requests for several topics at once that an
// origin's path serves: by transport, the topic sets each asked for, in
// order, consecutive repeats counted once.
type topicRequests struct {
	mu   sync.Mutex
	sets map[string][]string
	n    map[string]int
	ids  []string // Last-Event-ID headers of SSE requests
	log  []string // every request, for a failure to show
}

func watchTopics(e *echo.Echo, path string) *topicRequests {
	r := &topicRequests{sets: map[string][]string{}, n: map[string]int{}}
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.URL.Path == path && req.Method == http.MethodGet {
				tr := req.URL.Query().Get("transport")
				switch {
				case adapters.IsWebSocketUpgrade(req):
					tr = "websocket"
				case tr == "":
					tr = "sse"
				}
				set := strings.Join(req.URL.Query()["topic"], ",")
				r.mu.Lock()
				r.log = append(r.log, fmt.Sprintf("%s %s cursor=%s timeout=%s", time.Now().Format("15:04:05.000"), set, req.URL.Query().Get("cursor"), req.URL.Query().Get("timeout")))
				r.n[tr]++
				if s := r.sets[tr]; len(s) == 0 || s[len(s)-1] != set {
					r.sets[tr] = append(s, set)
				}
				if tr == "sse" {
					r.ids = append(r.ids, req.Header.Get("Last-Event-ID"))
				}
				r.mu.Unlock()
			}
			return next(c)
		}
	})
	return r
}

func (r *topicRequests) get(tr string) (sets []string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sets[tr]), r.n[tr]
}

// sameChanges reports whether the topic sets a transport's requests asked
// for, in the order the server saw them, are the changes want: exactly, on
// the streams; on the polls, the old set may come once more after the new
// one, because a poll the client aborted when it reopened can reach the
// server after the reopened one, but no other set may (a client that
// reopened per subscribe would ask for 6, 7, ... topics).
func sameChanges(tr string, sets, want []string) bool {
	if tr == "sse" || tr == "websocket" || slices.Equal(sets, want) {
		return slices.Equal(sets, want)
	}
	if len(sets) < len(want) || sets[0] != want[0] || sets[len(sets)-1] != want[len(want)-1] {
		return false
	}
	for _, set := range sets {
		if !slices.Contains(want, set) {
			return false
		}
	}
	for _, w := range want {
		if !slices.Contains(sets, w) {
			return false
		}
	}
	return true
}

// muxTransports are the transports, in the browser client's order.
var muxTransports = []string{"websocket", "sse", "longpoll", "poll"}

// TestBrowserTopics follows 10 topics from one page over plain HTTP/1.1 on
// each transport, on an origin and a tab of its own: five topics
// subscribed in one tick open one connection; five more subscribed in one
// tick, while the first five are being published to, change it once (one
// reopen on SSE and the polls, not five; subscribe messages on the one
// WebSocket), and so does closing those five in one tick; every topic
// receives everything published to it while subscribed once, in order.
func TestBrowserTopics(t *testing.T) {
	browser := browsertest.New(t)
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		t.Run(tr, func(t *testing.T) {
			o := newOrigin(t, config{})
			reqs := watchTopics(o.e, "/topics")
			ctx := newTab(t, browser)
			if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
				t.Fatal(err)
			}
			evalJS(t, ctx, muxPage)
			first, second := topicNames("a", 5), topicNames("b", 5)
			all := append(slices.Clone(first), second...)
			evalJS(t, ctx, fmt.Sprintf(`mux.open('/topics', [%q]); %s`, tr, subscribeJS(first)))
			waitMux(t, ctx, "five topics live", allLive(first))
			log := newTopicLog(t, o.api)
			log.each(first, 3)
			stop := log.run(first)
			waitMux(t, ctx, "events while publishing", func(m muxState) bool { return len(m.Got["a0"]) > 5 })
			evalJS(t, ctx, subscribeJS(second))
			waitMux(t, ctx, "ten topics live", allLive(all))
			waitMux(t, ctx, "events after the change", func(m muxState) bool { return len(m.Got["a0"]) > 10 })
			stop()
			log.each(all, 3)
			log.check(t, waitMux(t, ctx, "every event", log.received))
			// Closing the second five in one tick unsubscribes them at once
			// (one reopen, or unsubscribe messages), the first five going on.
			evalJS(t, ctx, fmt.Sprintf(`for (const t of %s) mux.subs.get(t).close()`, mustJSON(second)))
			want := []string{strings.Join(first, ","), strings.Join(all, ","), strings.Join(first, ",")}
			if tr == "websocket" {
				want = want[:1] // the others go as messages
			}
			waitFor(t, "the second five unsubscribed", func() bool {
				if tr == "websocket" || tr == "sse" {
					return o.hub.Stats().Subscribers == len(first)
				}
				sets, _ := reqs.get(tr)
				return len(sets) >= len(want) && sets[len(sets)-1] == want[len(want)-1]
			})
			log.each(first, 2)
			m := waitMux(t, ctx, "every event", log.received)
			log.check(t, m)
			for topic, evs := range m.Got {
				for _, ev := range evs {
					if ev.T != tr && !(ev.T == "poll" && tr == "sse") { // SSE asks a short poll where new topics start
						t.Fatalf("an event of %s came over %s", topic, ev.T)
					}
				}
			}
			sets, n := reqs.get(tr)
			if !sameChanges(tr, sets, want) {
				reqs.mu.Lock()
				t.Logf("requests:\n%s", strings.Join(reqs.log, "\n"))
				reqs.mu.Unlock()
				t.Errorf("%s requests asked for the topic sets %q, want %q", tr, sets, want)
			}
			if (tr == "sse" || tr == "websocket") && n != len(want) {
				t.Errorf("%d %s requests, want %d", n, tr, len(want))
			}
			for _, o := range m.Opens {
				if o != tr {
					t.Errorf("opened over %v", m.Opens)
				}
			}
			if len(m.Errors) > 0 {
				t.Errorf("errors %v", m.Errors)
			}
			t.Logf("%d events over %d %s requests", totalEvents(m), n, tr)
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// waitFor polls cond until it holds, for at most 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func totalEvents(m muxState) int {
	n := 0
	for _, evs := range m.Got {
		n += len(evs)
	}
	return n
}

// TestBrowserTopicsSwitchTransports follows 10 topics while they are
// published to and moves the page from transport to transport, each new
// stream resuming every topic from its own cursor: nothing is lost or
// repeated.
func TestBrowserTopicsSwitchTransports(t *testing.T) {
	o := newOrigin(t, config{})
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, muxPage)
	topics := topicNames("s", 10)
	order := append(slices.Clone(muxTransports[1:]), muxTransports...)
	evalJS(t, ctx, fmt.Sprintf(`mux.open('/topics', [%q]); %s`, muxTransports[0], subscribeJS(topics)))
	waitMux(t, ctx, "ten topics live", allLive(topics))
	log := newTopicLog(t, o.api)
	stop := log.run(topics)
	for _, tr := range order {
		before := totalEvents(readMux(t, ctx))
		waitMux(t, ctx, "events before switching to "+tr, func(m muxState) bool { return totalEvents(m) >= before+20 })
		evalJS(t, ctx, fmt.Sprintf(`mux.open('/topics', [%q])`, tr))
		waitMux(t, ctx, tr+" live", allLive(topics))
	}
	waitMux(t, ctx, "events after the last switch", func(m muxState) bool { return len(m.Got["s0"]) > 0 })
	stop()
	m := waitMux(t, ctx, "every event", log.received)
	log.check(t, m)
	seen := map[string]bool{}
	for _, evs := range m.Got {
		for _, ev := range evs {
			seen[ev.T] = true
		}
	}
	for _, tr := range muxTransports {
		if !seen[tr] {
			t.Errorf("no event came over %s (events came over %v)", tr, seen)
		}
	}
	if len(m.Errors) > 0 {
		t.Errorf("errors %v", m.Errors)
	}
	t.Logf("%d events over %v", totalEvents(m), m.Opens)
}

// TestBrowserTopicsEventSourceReconnects follows 10 topics over SSE on a
// route whose server is closed mid-stream (as at a deploy: the hub keeps
// running, a new server takes over): the native EventSource reconnects by
// itself, resending only the last id, and every topic resumes exactly.
func TestBrowserTopicsEventSourceReconnects(t *testing.T) {
	o := newOrigin(t, config{})
	newSSE := func() *sse.Server {
		s, err := sse.New(&sse.Options{ShutdownRetry: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sp, err := shortpoll.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[sse.Server]
	cur.Store(newSSE())
	t.Cleanup(func() { cur.Load().Close() })
	polls := sp.Topics(o.hub)
	o.e.GET("/mux", rxecho.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("transport") == "poll" {
			polls.ServeHTTP(w, r)
			return
		}
		cur.Load().Topics(o.hub).ServeHTTP(w, r)
	})))
	reqs := watchTopics(o.e, "/mux")
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, muxPage)
	topics := topicNames("r", 10)
	evalJS(t, ctx, `mux.open('/mux', ['sse']); `+subscribeJS(topics))
	waitMux(t, ctx, "ten topics live", allLive(topics))
	log := newTopicLog(t, o.api)
	stop := log.run(topics)
	waitMux(t, ctx, "events", func(m muxState) bool { return totalEvents(m) >= 30 })
	old := cur.Load()
	cur.Store(newSSE()) // takes the reconnections
	old.Close()         // ends every stream of the first server
	waitMux(t, ctx, "the EventSource back", func(m muxState) bool { return len(m.Opens) >= 2 })
	before := totalEvents(readMux(t, ctx))
	waitMux(t, ctx, "events after the reconnection", func(m muxState) bool { return totalEvents(m) >= before+30 })
	stop()
	m := waitMux(t, ctx, "every event", log.received)
	log.check(t, m)
	_, n := reqs.get("sse")
	reqs.mu.Lock()
	ids := slices.Clone(reqs.ids)
	reqs.mu.Unlock()
	if n != 2 || ids[0] != "" || !strings.Contains(ids[1], ":") {
		t.Errorf("SSE requests %d with Last-Event-ID %q: want the first without, the EventSource's own reconnection with the composite cursor", n, ids)
	}
	for _, e := range m.Errors {
		if e != "sse: sse: reconnecting" {
			t.Errorf("error %q: the client reconnected, not the EventSource", e)
		}
	}
	t.Logf("%d events; opens %v; errors %v", totalEvents(m), m.Opens, m.Errors)
}

// TestBrowserTwoTabsHTTP1 opens the whole page in two tabs of one browser
// over plain HTTP/1.1: with every topic panel on the page's one connection
// (a WebSocket), both tabs together stay under the browser's six
// connections per origin (newOrigin checks), every panel of each is live,
// and a message typed in one tab shows in both.
func TestBrowserTwoTabsHTTP1(t *testing.T) {
	o := newOrigin(t, config{})
	a := browsertest.New(t)
	b := newTab(t, a)
	chatInTwoTabs(t, o.URL, a, b)
	for _, tab := range []context.Context{a, b} {
		for _, panel := range []string{"#sse-topic", "#poll-long", "#poll-short", "#ws-topic"} {
			if err := chromedp.Do(tab, chromedp.WaitVisible(panel+` ol li`)); err != nil {
				t.Fatal(panel, err)
			}
		}
	}
	time.Sleep(4 * time.Second) // longer than any panel's cycle (the deferred poll's 3 s)
	for _, tab := range []context.Context{a, b} {
		checkPanelsLive(t, tab)
	}
	browsertest.Screenshot(t, b, "showcase-two-tabs-http1.png")
}

// TestBrowserTopicsFallback follows 10 topics on a route whose WebSocket
// server is shut down mid-stream and whose upgrades are refused from then
// on: the client falls back to SSE by itself, and every topic resumes from
// its own cursor, nothing lost or repeated.
func TestBrowserTopicsFallback(t *testing.T) {
	o := newOrigin(t, config{})
	ws, err := websocket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sse.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := longpoll.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := shortpoll.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close(); s.Close(); lp.Close() })
	var refuse atomic.Bool
	o.e.GET("/fb", func(c echo.Context) error {
		switch {
		case adapters.IsWebSocketUpgrade(c.Request()) && refuse.Load():
			return echo.NewHTTPError(http.StatusServiceUnavailable, "no WebSocket here any more")
		case adapters.IsWebSocketUpgrade(c.Request()):
			return rxecho.Wrap(ws.Topics(o.hub))(c)
		case c.QueryParam("transport") == "poll":
			return rxecho.Wrap(sp.Topics(o.hub))(c)
		case c.QueryParam("transport") == "longpoll":
			return rxecho.Wrap(lp.Topics(o.hub))(c)
		}
		return rxecho.Wrap(s.Topics(o.hub))(c)
	})
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, muxPage)
	topics := topicNames("f", 10)
	evalJS(t, ctx, `mux.open('/fb'); `+subscribeJS(topics))
	waitMux(t, ctx, "ten topics live", allLive(topics))
	log := newTopicLog(t, o.api)
	stop := log.run(topics)
	waitMux(t, ctx, "events", func(m muxState) bool { return totalEvents(m) >= 30 })
	refuse.Store(true)
	ws.Close() // ends the page's WebSocket (1001)
	waitMux(t, ctx, "the fallback", func(m muxState) bool { return slices.Contains(m.Opens, "sse") })
	before := totalEvents(readMux(t, ctx))
	waitMux(t, ctx, "events after the fallback", func(m muxState) bool { return totalEvents(m) >= before+30 })
	stop()
	m := waitMux(t, ctx, "every event", log.received)
	log.check(t, m)
	if !slices.Equal(m.Opens, []string{"websocket", "sse"}) {
		t.Errorf("opened over %v, want websocket then sse", m.Opens)
	}
	t.Logf("%d events; opens %v; errors %v", totalEvents(m), m.Opens, m.Errors)
}
