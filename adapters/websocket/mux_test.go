package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// muxMsg is any message of a multiplexed connection.
type muxMsg struct {
	Type    string `json:"type"`
	Topic   string `json:"topic"`
	ID      string `json:"id"`
	Event   string `json:"event"`
	Data    string `json:"data"`
	Cursor  string `json:"cursor"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func readMux(t *testing.T, c *cws.Conn) (muxMsg, string) {
	t.Helper()
	typ, s := read(t, c)
	var m muxMsg
	if err := json.Unmarshal([]byte(s), &m); typ != cws.MessageText || err != nil {
		t.Fatalf("not a JSON text message: %v %s", typ, s)
	}
	return m, s
}

func writeText(t *testing.T, c *cws.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), cws.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// muxFixture serves hub's topics on /topics, behind a middleware that sets
// guard on the request as the Endpoint does.
type muxFixture struct {
	*fixture
	hub *framework.Hub
}

func newMuxFixture(t *testing.T, opts *Options, hubOpts *framework.HubOptions, guard transport.Guard) *muxFixture {
	t.Helper()
	hub, err := framework.NewHub(hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, opts)
	t.Cleanup(func() { hub.Close() }) // after the fixture's: cleanups run last first
	topics := f.s.Topics(hub)
	f.mux.Handle("GET /topics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if guard != nil {
			r = transport.WithGuard(r, guard)
		}
		topics.ServeHTTP(w, r)
	}))
	return &muxFixture{fixture: f, hub: hub}
}

func (f *muxFixture) publish(t *testing.T, topic, data string) string {
	t.Helper()
	id, err := f.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// expectSubscribed reads the acknowledgements of topics, in order.
func expectSubscribed(t *testing.T, c *cws.Conn, topics, cursors []string) {
	t.Helper()
	for i, topic := range topics {
		m, s := readMux(t, c)
		if m.Type != "subscribed" || m.Topic != topic || m.Cursor != cursors[i] {
			t.Fatalf("got %s, want subscribed %s from %q", s, topic, cursors[i])
		}
	}
}

// collect reads events until each topic of want has as many as want holds
// and returns them per topic, as "data@id".
func collect(t *testing.T, c *cws.Conn, want map[string][]string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	missing := func() bool {
		for topic, w := range want {
			if len(got[topic]) < len(w) {
				return true
			}
		}
		return false
	}
	for missing() {
		m, s := readMux(t, c)
		if m.Type != "" || m.Topic == "" {
			t.Fatalf("got %s, want an event of a topic", s)
		}
		got[m.Topic] = append(got[m.Topic], m.Data+"@"+m.ID)
	}
	return got
}

func checkPerTopic(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for topic, w := range want {
		if !slices.Equal(got[topic], w) {
			t.Errorf("topic %s got %q, want %q", topic, got[topic], w)
		}
	}
	for topic := range got {
		if _, ok := want[topic]; !ok {
			t.Errorf("topic %s got %q, want nothing", topic, got[topic])
		}
	}
}

// TestTopicsResume: the URL's topics are acknowledged in order with the
// cursor each starts from, then each resumes exactly after its own
// position in the composite cursor: the events after it, once, then live.
func TestTopicsResume(t *testing.T) {
	// ids holds per topic the ID of its data 0, 1, 2; seq(topic, i) the
	// sequence number of that ID, ev(topic, i) the event as collect has it.
	type hist struct {
		ids   map[string][]string
		epoch string
	}
	seq := func(h hist, topic string, i int) string { return strings.TrimPrefix(h.ids[topic][i], h.epoch+"-") }
	ev := func(h hist, topic string, i int) string { return topic + strconv.Itoa(i) + "@" + h.ids[topic][i] }
	tests := []struct {
		name    string
		query   func(h hist) string
		cursors func(h hist) []string            // of the acknowledgements of a and b
		history func(h hist) map[string][]string // before the live events
	}{
		{"no cursor",
			func(h hist) string { return "" },
			func(h hist) []string { return []string{h.ids["a"][2], h.ids["b"][2]} },
			func(h hist) map[string][]string { return nil }},
		{"composite",
			func(h hist) string { return "&cursor=" + h.epoch + ":" + seq(h, "a", 0) + "," + seq(h, "b", 1) },
			func(h hist) []string { return []string{h.ids["a"][0], h.ids["b"][1]} },
			func(h hist) map[string][]string {
				return map[string][]string{"a": {ev(h, "a", 1), ev(h, "a", 2)}, "b": {ev(h, "b", 2)}}
			}},
		{"built from IDs",
			func(h hist) string { return "&lastEventId=:" + h.ids["a"][1] + "," + h.ids["b"][0] },
			func(h hist) []string { return []string{h.ids["a"][1], h.ids["b"][0]} },
			func(h hist) map[string][]string {
				return map[string][]string{"a": {ev(h, "a", 2)}, "b": {ev(h, "b", 1), ev(h, "b", 2)}}
			}},
		{"one position empty",
			func(h hist) string { return "&cursor=" + h.epoch + ":," + seq(h, "b", 0) },
			func(h hist) []string { return []string{h.ids["a"][2], h.ids["b"][0]} },
			func(h hist) map[string][]string { return map[string][]string{"b": {ev(h, "b", 1), ev(h, "b", 2)}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMuxFixture(t, nil, nil, nil)
			h := hist{ids: map[string][]string{}}
			for i := range 3 {
				for _, topic := range []string{"a", "b"} {
					h.ids[topic] = append(h.ids[topic], f.publish(t, topic, topic+strconv.Itoa(i)))
				}
			}
			h.epoch, _, _ = strings.Cut(h.ids["a"][0], "-")
			c := f.dial("/topics?topic=a&topic=b"+tt.query(h), nil)
			expectSubscribed(t, c, []string{"a", "b"}, tt.cursors(h))
			want := map[string][]string{}
			for topic, evs := range tt.history(h) {
				want[topic] = evs
			}
			for _, topic := range []string{"a", "b"} {
				want[topic] = append(want[topic], "live@"+f.publish(t, topic, "live"))
			}
			checkPerTopic(t, collect(t, c, want), want)
		})
	}
}

// TestTopicsGap: a topic's position older than the history gets its gap
// notice, naming the topic, then the events that remain; a position ahead
// of the tip gets a gap notice alone, whose id is the topic's own cursor.
func TestTopicsGap(t *testing.T) {
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	f := newMuxFixture(t, nil, &framework.HubOptions{Broker: broker}, nil)
	var a []string
	for i := range 4 {
		a = append(a, f.publish(t, "a", "a"+strconv.Itoa(i)))
	}
	tip := f.publish(t, "b", "b0")
	epoch, _, _ := strings.Cut(tip, "-")
	c := f.dial("/topics?topic=a&topic=b&cursor="+epoch+":"+strings.TrimPrefix(a[0], epoch+"-")+",999", nil)
	expectSubscribed(t, c, []string{"a", "b"}, []string{a[0], epoch + "-999"})
	var gaps, events []string
	for len(gaps) < 2 || len(events) < 2 {
		m, s := readMux(t, c)
		switch {
		case m.Event == "gap":
			var g framework.Gap
			if err := json.Unmarshal([]byte(m.Data), &g); err != nil {
				t.Fatalf("gap data %s: %v", s, err)
			}
			gaps = append(gaps, m.Topic+" "+m.ID+" "+g.Last+" "+g.Next)
		default:
			events = append(events, m.Topic+" "+m.ID+" "+m.Data)
		}
	}
	slices.Sort(gaps)
	if want := []string{"a  " + a[0] + " " + a[2], "b " + tip + " " + epoch + "-999 "}; !slices.Equal(gaps, want) {
		t.Fatalf("gaps %q, want %q", gaps, want)
	}
	if want := []string{"a " + a[2] + " a2", "a " + a[3] + " a3"}; !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}

// TestTopicsSubscribe: topics subscribed at runtime start from their
// cursor (history) or live, and an unsubscribed topic's events stop after
// its acknowledgement; subscribing it again resumes it exactly.
func TestTopicsSubscribe(t *testing.T) {
	f := newMuxFixture(t, nil, nil, nil)
	b0 := f.publish(t, "b", "b0")
	b1 := f.publish(t, "b", "b1")
	ctip := f.publish(t, "c", "c0")
	c := f.dial("/topics?topic=a", nil)
	atip := "" // the hub's tip of a topic never published to
	if m, s := readMux(t, c); m.Type != "subscribed" || m.Topic != "a" {
		t.Fatalf("got %s", s)
	} else {
		atip = m.Cursor
	}

	t.Run("from a cursor", func(t *testing.T) {
		writeText(t, c, `{"type":"subscribe","topic":"b","cursor":"`+b0+`"}`)
		if _, s := read(t, c); s != `{"type":"subscribed","topic":"b","cursor":"`+b0+`"}` {
			t.Fatalf("got %s", s)
		}
		want := map[string][]string{"b": {"b1@" + b1}}
		checkPerTopic(t, collect(t, c, want), want)
	})
	t.Run("live", func(t *testing.T) {
		writeText(t, c, `{"type":"subscribe","topic":"c"}`)
		expectSubscribed(t, c, []string{"c"}, []string{ctip})
		want := map[string][]string{"c": {"c1@" + f.publish(t, "c", "c1")}}
		checkPerTopic(t, collect(t, c, want), want)
	})
	var last string
	t.Run("unsubscribe", func(t *testing.T) {
		a1 := f.publish(t, "a", "a1")
		want := map[string][]string{"a": {"a1@" + a1}}
		checkPerTopic(t, collect(t, c, want), want)
		last = a1
		writeText(t, c, `{"type":"unsubscribe","topic":"a"}`)
		if _, s := read(t, c); s != `{"type":"unsubscribed","topic":"a"}` {
			t.Fatalf("got %s", s)
		}
		gone := f.publish(t, "a", "a2")
		want = map[string][]string{"c": {"c2@" + f.publish(t, "c", "c2")}}
		checkPerTopic(t, collect(t, c, want), want)
		// Not subscribed any more: subscribing again is no duplicate,
		// and resumes after the last ID seen with what was missed.
		writeText(t, c, `{"type":"subscribe","topic":"a","cursor":"`+last+`"}`)
		expectSubscribed(t, c, []string{"a"}, []string{last})
		want = map[string][]string{"a": {"a2@" + gone}}
		checkPerTopic(t, collect(t, c, want), want)
	})
	t.Run("unsubscribe a topic not followed", func(t *testing.T) {
		writeText(t, c, `{"type":"unsubscribe","topic":"zz"}`)
		if _, s := read(t, c); s != `{"type":"unsubscribed","topic":"zz"}` {
			t.Fatalf("got %s", s)
		}
	})
	if atip == "" || atip == last {
		t.Fatalf("a's subscribed cursor %q", atip)
	}
}

// TestTopicsRefusals: a subscription that is refused gets an error naming
// its topic with the status HTTP would answer, a malformed message one
// without topic, and the connection goes on: the URL's topic still flows.
// Every message also reaches Hooks.Message.
func TestTopicsRefusals(t *testing.T) {
	guard := func(_ *http.Request, topic string, _ transport.Action) error {
		switch topic {
		case "secret":
			return errors.New("not yours")
		case "login":
			return &StatusError{Code: http.StatusUnauthorized, Message: "log in first"}
		}
		return nil
	}
	f := newMuxFixture(t, &Options{MaxTopics: 3}, nil, guard)
	c := f.dial("/topics?topic=a&topic=b", nil)
	m, _ := readMux(t, c)
	readMux(t, c)
	atip := m.Cursor
	tests := []struct {
		name, msg string
		topic     string // of the error; "" for a malformed message
		status    int
		message   string // in the error's message
	}{
		{"refused by the guard", `{"type":"subscribe","topic":"secret"}`, "secret", http.StatusForbidden, "not yours"},
		{"guard's own status", `{"type":"subscribe","topic":"login"}`, "login", http.StatusUnauthorized, "log in first"},
		{"invalid topic", `{"type":"subscribe","topic":"bad..name"}`, "bad..name", http.StatusBadRequest, "invalid topic"},
		{"invalid cursor", `{"type":"subscribe","topic":"c","cursor":"nope"}`, "c", http.StatusBadRequest, "cursor"},
		{"duplicate", `{"type":"subscribe","topic":"a"}`, "a", http.StatusBadRequest, "already subscribed"},
		{"not JSON", `{"type":"subscribe",`, "", http.StatusBadRequest, "malformed"},
		{"not an object", `["subscribe","c"]`, "", http.StatusBadRequest, "malformed"},
		{"unknown type", `{"type":"publish","topic":"c"}`, "", http.StatusBadRequest, "unknown message type"},
		{"no type", `{"topic":"c"}`, "", http.StatusBadRequest, "unknown message type"},
		{"missing topic", `{"type":"subscribe"}`, "", http.StatusBadRequest, "without a topic"},
		{"missing topic to unsubscribe", `{"type":"unsubscribe","topic":""}`, "", http.StatusBadRequest, "without a topic"},
		{"over MaxTopics", `{"type":"subscribe","topic":"d"}`, "d", http.StatusBadRequest, "more than 3"}, // after c
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "over MaxTopics" {
				writeText(t, c, `{"type":"subscribe","topic":"c"}`)
				expectSubscribed(t, c, []string{"c"}, []string{atip})
			}
			writeText(t, c, tt.msg)
			m, s := readMux(t, c)
			if m.Type != "error" || m.Topic != tt.topic || m.Status != tt.status || !strings.Contains(m.Message, tt.message) {
				t.Fatalf("got %s, want an error of %q with %d and %q", s, tt.topic, tt.status, tt.message)
			}
			if (tt.topic == "") != !strings.Contains(s, `"topic"`) {
				t.Fatalf("%s: topic field present or absent wrongly", s)
			}
			// The connection goes on.
			data := "after" + strconv.Itoa(i)
			want := map[string][]string{"a": {data + "@" + f.publish(t, "a", data)}}
			checkPerTopic(t, collect(t, c, want), want)
		})
	}
	f.rec.mu.Lock()
	n := len(f.rec.messages)
	f.rec.mu.Unlock()
	if n != len(tests)+1 {
		t.Fatalf("Hooks.Message saw %d messages, want %d", n, len(tests)+1)
	}
}

// TestTopicsURLRefusals: what is wrong with the URL's topics or cursor is
// answered before the upgrade, as on the other transports.
func TestTopicsURLRefusals(t *testing.T) {
	guard := func(_ *http.Request, topic string, _ transport.Action) error {
		if topic == "secret" {
			return errors.New("not yours")
		}
		return nil
	}
	f := newMuxFixture(t, &Options{MaxTopics: 2}, nil, guard)
	tests := []struct {
		name, query string
		status      int
	}{
		{"no topic", "", http.StatusBadRequest},
		{"invalid topic", "?topic=a&topic=bad..name", http.StatusBadRequest},
		{"twice", "?topic=a&topic=a", http.StatusBadRequest},
		{"over MaxTopics", "?topic=a&topic=b&topic=c", http.StatusBadRequest},
		{"refused topic", "?topic=a&topic=secret", http.StatusForbidden},
		{"positions for another count", "?topic=a&topic=b&cursor=e:1", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := cws.Dial(ctx, f.url("/topics"+tt.query), nil)
			if err == nil {
				c.CloseNow()
				t.Fatal("upgraded")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("got %v, %v; want %d", resp, err, tt.status)
			}
			checkAnswer(t, resp, tt.status, "")
		})
	}
}

// TestTopicsConcurrent: the events of three topics published at once
// arrive each once and in order per topic, each with its own ID.
func TestTopicsConcurrent(t *testing.T) {
	const n = 300
	f := newMuxFixture(t, &Options{MaxBatch: 7}, nil, nil)
	topics := []string{"x", "y", "z"}
	c := f.dial("/topics?topic=x&topic=y", nil)
	readMux(t, c)
	readMux(t, c)
	writeText(t, c, `{"type":"subscribe","topic":"z"}`)
	readMux(t, c)
	want := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, topic := range topics {
		wg.Go(func() {
			var ids []string
			for i := range n {
				id, err := f.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(strconv.Itoa(i))})
				if err != nil {
					panic(err)
				}
				ids = append(ids, strconv.Itoa(i)+"@"+id)
			}
			mu.Lock()
			want[topic] = ids
			mu.Unlock()
		})
	}
	expect := map[string][]string{"x": make([]string, n), "y": make([]string, n), "z": make([]string, n)}
	got := collect(t, c, expect)
	wg.Wait()
	checkPerTopic(t, got, want)
}

// TestTopicsClose: the client's close ends the connection and every
// subscription, those of the URL and those added since (goleak checks the
// goroutines); the server's close reason carries no cursor.
func TestTopicsClose(t *testing.T) {
	f := newMuxFixture(t, nil, nil, nil)
	c := f.dial("/topics?topic=a&topic=b", nil)
	writeText(t, c, `{"type":"subscribe","topic":"c"}`)
	for range 3 {
		readMux(t, c)
	}
	waitFor(t, "three topics followed", func() bool { return f.hub.Topics() == 3 })
	if err := c.Close(cws.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	if ce, ok := peerClosed(f.rec.next(t).reason); !ok || ce.Code != cws.StatusNormalClosure {
		t.Fatalf("Closed hook got %v, want the peer's 1000", ce)
	}
	waitFor(t, "the handler to return", func() bool { return f.s.Connections() == 0 })
	waitFor(t, "every subscription to end", func() bool { return f.hub.Topics() == 0 })

	c = f.dial("/topics?topic=a", nil)
	readMux(t, c)
	f.publish(t, "a", "a0")
	readMux(t, c) // a position to resume from: a single topic's reason would carry it
	f.s.Close()
	if ce := readClose(t, c); ce.Code != cws.StatusGoingAway || strings.Contains(ce.Reason, "cursor") {
		t.Fatalf("closed with %v, want 1001 without a cursor", ce)
	}
	if cl := f.rec.next(t); cl.reason != ErrShutdown {
		t.Fatalf("Closed hook got %v, want ErrShutdown", cl.reason)
	}
}

// TestMultiClientRefused: a subscription the server refuses on the open
// connection ends with a *StatusError naming its topic, with the status
// and message of the server's error message; the other topics go on.
func TestMultiClientRefused(t *testing.T) {
	guard := func(_ *http.Request, topic string, _ transport.Action) error {
		if topic == "secret" {
			return &StatusError{Code: http.StatusForbidden, Message: "not yours"}
		}
		return nil
	}
	f := newMuxFixture(t, nil, nil, guard)
	m, err := NewMultiClient(f.url("/topics"), &ClientOptions{MinBackoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, err := m.Subscribe("a", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	items := a.Events().Observe(rxgo.WithContext(ctx))
	waitFor(t, "the server to follow a", func() bool { return f.hub.Topics() == 1 })
	secret, err := m.Subscribe("secret", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []rxgo.Item
	for it := range secret.Events().Observe(rxgo.WithContext(ctx)) {
		got = append(got, it)
	}
	var se *StatusError
	if len(got) != 1 || !errors.As(got[0].E, &se) || se.Topic != "secret" || se.Code != http.StatusForbidden || se.Message != "not yours" {
		t.Fatalf("refused subscription got %+v, want a 403 StatusError of secret", got)
	}
	id := f.publish(t, "a", "still here")
	if it := <-items; it.E != nil || it.V.(framework.Event).ID != id {
		t.Fatalf("a got %+v after the refusal, want %s", it, id)
	}
}
