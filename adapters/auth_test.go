package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	rxws "github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// The tokens of these tests are "user|expiry in Unix ms|topic,topic" ("*"
// grants every topic): what a JWT carries, without the signature. The hook
// accepts a token up to leeway past its expiry, as JWT parsers do, and
// tells the server the expiry itself: the server, not the hook, must end
// the stream at the expiry and refuse the next request.
const leeway = 5 * time.Second

func mint(user string, exp time.Time, topics ...string) string {
	if len(topics) == 0 {
		topics = []string{"*"}
	}
	return user + "|" + strconv.FormatInt(exp.UnixMilli(), 10) + "|" + strings.Join(topics, ",")
}

func tokenHook(r *http.Request, topic string, _ adapters.Action) error {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	parts := strings.Split(tok, "|")
	if len(parts) != 3 {
		return &adapters.StatusError{Code: http.StatusUnauthorized, Message: "no token"}
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	exp := time.UnixMilli(ms)
	if err != nil || time.Now().After(exp.Add(leeway)) {
		return &adapters.StatusError{Code: http.StatusUnauthorized, Message: "token expired"}
	}
	adapters.ExpiresAt(r, exp)
	adapters.SetUser(r, parts[0])
	if grants := strings.Split(parts[2], ","); !slices.Contains(grants, topic) && !slices.Contains(grants, "*") {
		return fmt.Errorf("token does not grant %s", topic)
	}
	return nil
}

// authEnv is an Endpoint guarded by tokenHook, on a ServeMux, with the
// reasons its servers' Hooks.Closed are told.
type authEnv struct {
	hub    *framework.Hub
	ep     *adapters.Endpoint
	gate   *adapters.Gate
	url    string
	mu     sync.Mutex
	closed map[string][]error // by transport
	users  []string           // the Conn.User of each connection opened
}

func newAuthEnv(t *testing.T, gate *adapters.GateOptions) *authEnv {
	t.Helper()
	v := &authEnv{hub: must(framework.NewHub(nil)), closed: map[string][]error{}}
	t.Cleanup(func() { v.hub.Close() })
	v.gate = must(adapters.NewGate(gate))
	hooks := sse.Hooks{Opened: func(c *sse.Conn) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.users = append(v.users, c.User)
	}, Closed: func(c *sse.Conn, reason error) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.closed[c.Transport] = append(v.closed[c.Transport], reason)
	}}
	s := must(sse.New(&sse.Options{Gate: v.gate, Hooks: hooks}))
	lp := must(longpoll.New(&longpoll.Options{Gate: v.gate, Hooks: hooks}))
	sp := must(shortpoll.New(&shortpoll.Options{Gate: v.gate, Hooks: hooks, Interval: 50 * time.Millisecond}))
	// Under TestParkedWebSocket (park_test.go) the WebSocket server parks
	// its single-topic connections; the name, not a variable, says so,
	// because the tests run their cases in parallel.
	parkWS := strings.HasPrefix(t.Name(), "TestParkedWebSocket/")
	ws := must(rxws.New(&rxws.Options{Gate: v.gate, Hooks: hooks, Park: parkWS}))
	v.ep = must(adapters.New(&adapters.Options{SSE: s, LongPoll: lp, ShortPoll: sp, WebSocket: ws, Authorize: tokenHook}))
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", v.ep.Topic(v.hub, adapters.Param("room")))
	mux.Handle("/topics", v.ep.Topics(v.hub))
	ts := httptest.NewServer(mux)
	v.url = ts.URL
	t.Cleanup(func() {
		for _, c := range []func(){s.Close, lp.Close, sp.Close, ws.Close} {
			c()
		}
		ts.Close()
	})
	return v
}

// reasons returns what Hooks.Closed was told about transport's requests.
func (v *authEnv) reasons(transport string) []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.closed[transport])
}

// publisher publishes "e0", "e1", ... to topic every 20 ms, except while
// paused says so, until stop; then one "last" event. ids are what it
// published, in order.
type publisher struct {
	mu   sync.Mutex
	ids  []string
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

func publish(t *testing.T, hub *framework.Hub, topic string, paused func(time.Time) bool) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan struct{})}
	add := func(data string) {
		id, err := hub.Publish(context.Background(), topic, framework.Text(data))
		if err != nil {
			t.Error(err)
			return
		}
		p.mu.Lock()
		p.ids = append(p.ids, id)
		p.mu.Unlock()
	}
	t.Cleanup(func() { p.finish() }) // a test that fails early
	go func() {
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 5000; i++ { // bounded
			select {
			case <-p.stop:
				add("last")
				return
			case now := <-tick.C:
				if paused == nil || !paused(now) {
					add("e" + strconv.Itoa(i))
				}
			}
		}
	}()
	return p
}

// finish stops the publisher and returns what it published.
func (p *publisher) finish() []string {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ids)
}

// follower reads a topic on one transport with a token, from a cursor,
// handing each event to got, until the stream ends (the error says why)
// or an event holds "last".
type follower func(t *testing.T, ctx context.Context, v *authEnv, token, cursor string, got func(id, data string)) error

// errLast is a follower's end at the "last" event.
var errLast = errors.New("the last event")

// endError is an end of a stream by its authorization, as a client sees
// it: the SSE event or the close code, the long-poll's status, and the
// cursor the server gave with it.
type endError struct {
	what   string
	cursor string
}

func (e *endError) Error() string { return e.what + " (cursor " + e.cursor + ")" }

var followers = map[string]follower{
	"sse": func(t *testing.T, ctx context.Context, v *authEnv, token, cursor string, got func(id, data string)) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/rooms/x", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Last-Event-ID", cursor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &endError{what: strconv.Itoa(resp.StatusCode)}
		}
		d := sse.NewDecoder(resp.Body)
		for {
			ev, err := d.Next()
			if err != nil {
				return err
			}
			switch ev.Name {
			case "":
				got(ev.ID, string(ev.Data))
				if string(ev.Data) == "last" {
					return errLast
				}
			case sse.EventExpired, sse.EventRevoked:
				var m struct{ Cursor, Topic string }
				_ = json.Unmarshal(ev.Data, &m)
				if _, err := d.Next(); err == nil {
					t.Errorf("the stream goes on after %s", ev.Name)
				}
				return &endError{what: ev.Name + " " + m.Topic, cursor: m.Cursor}
			}
		}
	},
	"websocket": func(t *testing.T, ctx context.Context, v *authEnv, token, cursor string, got func(id, data string)) error {
		u := "ws" + strings.TrimPrefix(v.url, "http") + "/rooms/x?cursor=" + url.QueryEscape(cursor)
		c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			if resp != nil { // a refused handshake
				return &endError{what: strconv.Itoa(resp.StatusCode)}
			}
			return err
		}
		defer c.CloseNow()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					return &endError{what: strconv.Itoa(int(ce.Code)), cursor: rxws.ReasonCursor(ce.Reason)}
				}
				return err
			}
			var env struct{ ID, Data string }
			if err := json.Unmarshal(b, &env); err != nil {
				return err
			}
			got(env.ID, env.Data)
			if env.Data == "last" {
				return errLast
			}
		}
	},
	"longpoll": pollFollower("longpoll", 0),
	"poll":     pollFollower("poll", 50*time.Millisecond),
}

func pollFollower(transport string, every time.Duration) follower {
	return func(t *testing.T, ctx context.Context, v *authEnv, token, cursor string, got func(id, data string)) error {
		for i := 0; i < 10000; i++ { // bounded
			q := url.Values{"transport": {transport}, "cursor": {cursor}}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/rooms/x?"+q.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			var body struct {
				Events []struct{ ID, Data string }
				Cursor string
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				if err != nil {
					return err
				}
				for _, ev := range body.Events {
					got(ev.ID, ev.Data)
					if ev.Data == "last" {
						return errLast
					}
				}
				cursor = body.Cursor
			case http.StatusNoContent, http.StatusNotModified:
			default:
				return &endError{what: strconv.Itoa(resp.StatusCode), cursor: resp.Header.Get(longpoll.CursorHeader)}
			}
			time.Sleep(every)
		}
		return errors.New("too many polls")
	}
}

// TestExpiryEndsEveryTransport: a token that expires mid-stream ends the
// stream within 1 s of its expiry, on every transport, with the reason the
// transport gives (SSE an "expired" event, WebSocket 4401, a held
// long-poll 401, the next short poll 401) and the cursor; the request
// after it with the same token is refused although the hook would still
// take it; a fresh token resumes from the cursor with nothing lost and
// nothing repeated. Publishing pauses around the expiry, so that the
// stream is idle (a long-poll held) when it comes.
func TestExpiryEndsEveryTransport(t *testing.T) {
	for _, tc := range []struct {
		transport string
		end       string // what ends the stream
		closed    bool   // Hooks.Closed is told ErrExpired
	}{
		{"sse", sse.EventExpired + " ", true},
		{"websocket", "4401", true},
		{"longpoll", "401", true},
		{"poll", "401", false}, // refused, not opened
	} {
		t.Run(tc.transport, func(t *testing.T) {
			t.Parallel()
			v := newAuthEnv(t, nil)
			start, _ := v.hub.Publish(context.Background(), "x", framework.Text("start"))
			// The token carries milliseconds: the stream ends at the
			// truncated instant, so that is the one to measure from.
			exp := time.UnixMilli(time.Now().Add(1500 * time.Millisecond).UnixMilli())
			pub := publish(t, v.hub, "x", func(now time.Time) bool {
				return now.After(exp.Add(-400*time.Millisecond)) && now.Before(exp.Add(200*time.Millisecond))
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var got []string
			last := start
			collect := func(id, _ string) {
				got = append(got, id)
				last = id
			}
			follow := followers[tc.transport]

			err := follow(t, ctx, v, mint("alice", exp), start, collect)
			ended := time.Now()
			var ee *endError
			if !errors.As(err, &ee) || ee.what != tc.end {
				t.Fatalf("ended with %v, want %s", err, tc.end)
			}
			if late := ended.Sub(exp); late < 0 || late >= time.Second {
				t.Fatalf("ended %v after the expiry, want within [0, 1s)", late)
			}
			t.Logf("ended %v after the expiry", ended.Sub(exp))
			if tc.transport != "poll" && ee.cursor != last {
				t.Errorf("the end carries cursor %q, want the last ID received, %q", ee.cursor, last)
			}
			if err := follow(t, ctx, v, mint("alice", exp), last, collect); !errors.As(err, &ee) || ee.what != "401" {
				t.Fatalf("the same token again: %v, want refused 401", err)
			}
			if tc.closed {
				// A WebSocket's hook is told once its closing handshake is
				// done; the polls before the expiry completed.
				expired := func(r []error) bool {
					return slices.ContainsFunc(r, func(e error) bool { return errors.Is(e, adapters.ErrExpired) })
				}
				reasons := v.reasons(tc.transport)
				for i := 0; i < 1000 && !expired(reasons); i++ {
					time.Sleep(5 * time.Millisecond)
					reasons = v.reasons(tc.transport)
				}
				if !expired(reasons) {
					t.Errorf("Hooks.Closed told %v, want ErrExpired", reasons)
				}
			}

			fresh := mint("alice", time.Now().Add(time.Hour))
			done := make(chan error, 1)
			go func() { done <- follow(t, ctx, v, fresh, last, collect) }()
			time.Sleep(300 * time.Millisecond)
			want := pub.finish()
			if err := <-done; !errors.Is(err, errLast) {
				t.Fatalf("resuming: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("received %d events, published %d: lost or repeated\ngot  %v\nwant %v", len(got), len(want), got, want)
			}
		})
	}
}
