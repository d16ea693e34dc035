package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/internal/browsertest"
)

// received is what the chat panel recorded (window.chat).
type received struct {
	Events []struct {
		ID        string `json:"id"`
		Data      string `json:"data"`
		Transport string `json:"transport"`
	} `json:"events"`
	Gaps       []map[string]string `json:"gaps"`
	Transports []string            `json:"transports"`
}

func chatState(t *testing.T, ctx context.Context) received {
	t.Helper()
	var r received
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({events: window.chat.events, gaps: window.chat.gaps, transports: window.chat.transports})`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitChat polls the page until cond holds, bounded in time.
func waitChat(t *testing.T, ctx context.Context, what string, cond func(received) bool) received {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := chatState(t, ctx)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('chat-state').textContent`))
			t.Fatalf("timed out waiting for %s; page says %q and has %+v", what, state, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func post(t *testing.T, base, data string) {
	resp, err := http.Post(base+"/topics/chat", "text/plain", strings.NewReader(data))
	if err != nil {
		t.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("publish: %s", resp.Status)
	}
}

// TestBrowserEachTransport: on each transport the chat panel receives
// published events in order. Each transport gets an origin and a tab of its
// own, and the page only the chat: what the page before it held, or other
// panels, never take the connection it needs.
func TestBrowserEachTransport(t *testing.T) {
	browser := browsertest.New(t)
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		t.Run(tr, func(t *testing.T) {
			o := newOrigin(t, config{})
			ctx := newTab(t, browser)
			if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/?panels=chat&transport="+tr)); err != nil {
				t.Fatal(err)
			}
			waitChat(t, ctx, tr+" open", func(r received) bool { return len(r.Transports) > 0 })
			var want []string
			for i := range 20 {
				d := fmt.Sprintf("%s %d 你好", tr, i)
				want = append(want, d)
				post(t, o.api, d)
			}
			r := waitChat(t, ctx, "20 events", func(r received) bool { return len(r.Events) >= 20 })
			for i, ev := range r.Events {
				if i >= len(want) || ev.Data != want[i] || ev.Transport != tr {
					t.Fatalf("event %d = %+v, want %q over %s", i, ev, want[min(i, len(want)-1)], tr)
				}
			}
			if r.Transports[0] != tr || len(r.Gaps) != 0 {
				t.Fatalf("transports %v gaps %v", r.Transports, r.Gaps)
			}
			browsertest.Screenshot(t, ctx, "showcase-chat-"+tr+".png")
		})
	}
}

// publisher publishes "0", "1", ... until stopped, and returns how many.
func publisher(t *testing.T, base string, every time.Duration) (stop func() int) {
	done := make(chan struct{})
	var n int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ { // bounded
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			post(t, base, strconv.Itoa(i))
			n = i + 1
		}
	}()
	return func() int { close(done); wg.Wait(); return n }
}

// checkSequence: from the first event the page got, every published event
// arrived once, in order.
func checkSequence(t *testing.T, r received, published int) {
	t.Helper()
	if len(r.Events) == 0 {
		t.Fatal("no events")
	}
	first, err := strconv.Atoi(r.Events[0].Data)
	if err != nil {
		t.Fatalf("first event %q", r.Events[0].Data)
	}
	for i, ev := range r.Events {
		if ev.Data != strconv.Itoa(first+i) {
			t.Fatalf("event %d is %q, want %d (a loss or a duplicate); transports %v", i, ev.Data, first+i, r.Transports)
		}
	}
	if got := first + len(r.Events); got != published {
		t.Fatalf("page ends at %d, published %d", got, published)
	}
	if len(r.Gaps) != 0 {
		t.Fatalf("gap notices %v", r.Gaps)
	}
}

// TestBrowserSwitchTransports switches the chat between all four transports
// while events are published: nothing is lost or repeated.
func TestBrowserSwitchTransports(t *testing.T) {
	o := newOrigin(t, config{})
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/?panels=chat&transport=websocket")); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "open", func(r received) bool { return len(r.Transports) > 0 })
	stop := publisher(t, o.api, 5*time.Millisecond)
	for _, tr := range []string{"sse", "longpoll", "poll", "websocket", "sse"} {
		waitChat(t, ctx, "events", func(r received) bool { return len(r.Events) > 0 })
		time.Sleep(200 * time.Millisecond)
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`(() => { const s = document.getElementById('chat-transport'); s.value = %q; s.dispatchEvent(new Event('change')); })()`, tr))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	published := stop()
	r := waitChat(t, ctx, "every event", func(r received) bool {
		first, _ := strconv.Atoi(r.Events[0].Data)
		return first+len(r.Events) >= published
	})
	checkSequence(t, r, published)
	seen := map[string]bool{}
	for _, ev := range r.Events {
		seen[ev.Transport] = true
	}
	if len(seen) != 4 {
		t.Fatalf("events came over %v, want all four transports", seen)
	}
}

// TestBrowserFallback refuses WebSocket: the client falls back to SSE and
// the sequence has no gap and no duplicate.
func TestBrowserFallback(t *testing.T) {
	o := newOrigin(t, config{disable: []adapters.Transport{adapters.WebSocket}})
	ctx := browsertest.New(t)
	stop := publisher(t, o.api, 5*time.Millisecond)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/?panels=chat")); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "30 events", func(r received) bool { return len(r.Events) >= 30 })
	published := stop()
	r := waitChat(t, ctx, "every event", func(r received) bool {
		first, _ := strconv.Atoi(r.Events[0].Data)
		return first+len(r.Events) >= published
	})
	checkSequence(t, r, published)
	if r.Transports[0] != "sse" {
		t.Fatalf("opened over %v, want sse after WebSocket was refused", r.Transports)
	}
}

// chatInTwoTabs opens the page at base in tabs a and b, types a message in
// a's chat, and checks that both tabs show it.
func chatInTwoTabs(t *testing.T, base string, a, b context.Context) {
	t.Helper()
	for _, tab := range []context.Context{a, b} {
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		waitChat(t, tab, "open", func(r received) bool { return len(r.Transports) > 0 })
	}
	if err := chromedp.Do(a,
		chromedp.SendKeys(`#chat-form input[name=text]`, "hello from tab A ✓"),
		chromedp.Click(`#chat-form button`),
	); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []context.Context{a, b} {
		r := waitChat(t, tab, "the message", func(r received) bool { return len(r.Events) > 0 })
		var msg struct{ Text string }
		json.Unmarshal([]byte(r.Events[0].Data), &msg)
		if msg.Text != "hello from tab A ✓" {
			t.Fatalf("tab got %q", r.Events[0].Data)
		}
	}
}

// TestBrowserTwoPages: a message typed in one tab shows in both, over
// HTTP/2 (TestBrowserTwoTabsHTTP1 does it over HTTP/1.1).
func TestBrowserTwoPages(t *testing.T) {
	srv := newTLSServer(t, true)
	a := browsertest.New(t, "ignore-certificate-errors")
	b, cancel := chromedp.NewContext(a) // a second tab of the same browser
	defer cancel()
	chatInTwoTabs(t, srv.URL, a, b)
	browsertest.Screenshot(t, b, "showcase-two-tabs.png")
}

// newTLSServer serves the showcase over HTTPS with the certificate -tls
// makes, with HTTP/2 or HTTP/1.1 only.
func newTLSServer(t *testing.T, http2 bool) *httptest.Server {
	t.Helper()
	a, err := newApp(config{log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !http2 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	srv := httptest.NewUnstartedServer(a.e)
	srv.Config = a.e.Server // carries the shutdown hooks
	srv.Config.Handler = a.e
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // browsers drop TLS handshakes they no longer need
	srv.TLS, srv.EnableHTTP2 = cfg, http2
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Config.Shutdown(context.Background())
		srv.Close()
		a.hub.Close()
	})
	return srv
}

// TestBrowserHTTP2 opens eight SSE streams from one page: over HTTP/2 all
// of them receive (browsers allow only six HTTP/1.1 connections per origin).
func TestBrowserHTTP2(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
	}{{"HTTP/2", true}, {"HTTP/1.1 control", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTLSServer(t, tc.http2)
			ctx := browsertest.New(t, "ignore-certificate-errors")
			// A page of the origin that opens no stream of its own.
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/_rxstream/rxstream.js")); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(async () => {
				const { connect } = await import('/_rxstream/rxstream.js');
				window.opened = 0; window.got = 0;
				for (let i = 0; i < 8; i++) connect('/topics/h2', { transports: ['sse'], openTimeout: 60000,
					onOpen: () => window.opened++, onEvent: () => window.got++ });
			})()`, chromedp.EvalAwaitPromise)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			opened := 0
			for time.Now().Before(deadline) && opened < 8 {
				var err error
				opened, err = chromedp.Run(ctx, chromedp.Evaluate[int](`window.opened`))
				if err != nil {
					t.Fatal(err)
				}
				if !tc.http2 && opened >= 6 {
					time.Sleep(2 * time.Second) // the control: would a 7th open?
					opened, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`window.opened`))
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !tc.http2 {
				if opened >= 8 {
					t.Fatal("8 streams opened over HTTP/1.1: the control does not show the 6-connection limit, so the HTTP/2 case proves nothing")
				}
				return
			}
			if opened != 8 {
				t.Fatalf("%d of 8 streams opened over HTTP/2", opened)
			}
			resp, err := srv.Client().Post(srv.URL+"/topics/h2", "text/plain", strings.NewReader("to all eight"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			deadline = time.Now().Add(10 * time.Second)
			for got := 0; got < 8; {
				if time.Now().After(deadline) {
					t.Fatalf("%d of 8 streams received the event", got)
				}
				got, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`window.got`))
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestBrowserAsyncIterator reads a topic with the client's async iterator
// on each transport; leaving the loop closes the stream.
func TestBrowserAsyncIterator(t *testing.T) {
	o := newOrigin(t, config{})
	for _, d := range []string{"a", "b 你好", "c"} {
		resp, err := http.Post(o.api+"/topics/it", "text/plain", strings.NewReader(d))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
			const { connect } = await import('/_rxstream/rxstream.js');
			const s = connect('/topics/it', { transports: [%q], cursor: '0' });
			const got = [];
			for await (const item of s) {
				if (item.type === 'event') got.push(item.event.data);
				if (got.length === 3) break;
			}
			return got.join(',') + '|' + s.closed;
		})()`, tr), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if got != "a,b 你好,c|true" {
			t.Errorf("%s: iterated %q", tr, got)
		}
	}
}

// TestBrowserSSECutBeforeFirstEvent cuts SSE streams of one topic after
// 300 ms: an event published while the client is away, before it ever got
// one, still arrives (the stream's opening tip is its Last-Event-ID).
func TestBrowserSSECutBeforeFirstEvent(t *testing.T) {
	o := newOrigin(t, config{})
	o.e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Path() == "/topics/:topic" && c.Param("topic") == "cut" {
				ctx, cancel := context.WithTimeout(c.Request().Context(), 300*time.Millisecond)
				defer cancel()
				c.SetRequest(c.Request().WithContext(ctx))
			}
			return next(c)
		}
	})
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(async () => {
		const { connect } = await import('/_rxstream/rxstream.js');
		window.opens = 0; window.got = [];
		connect('/topics/cut', { transports: ['sse'], onOpen: () => window.opens++, onEvent: (e) => window.got.push(e.data) });
	})()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for opens := 0; opens < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the stream never opened")
		}
		opens, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`window.opens`))
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(330 * time.Millisecond) // the first stream was cut at 300 ms
	resp, err := http.Post(o.api+"/topics/cut", "text/plain", strings.NewReader("while away"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline = time.Now().Add(20 * time.Second)
	for {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			if got[0] != "while away" {
				t.Fatalf("got %q", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the event published while the client was away never arrived")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserFallbackFromSilentSSE: an SSE request that never answers (a
// proxy holding it) makes the client fall back to long-poll after its open
// timeout, and events still arrive in order.
func TestBrowserFallbackFromSilentSSE(t *testing.T) {
	o := newOrigin(t, config{})
	o.e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Path() == "/topics/:topic" && c.Request().Header.Get("Accept") == "text/event-stream" {
				<-c.Request().Context().Done() // never answers
				return nil
			}
			return next(c)
		}
	})
	for _, d := range []string{"1", "2"} {
		resp, err := http.Post(o.api+"/topics/silent", "text/plain", strings.NewReader(d))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const { connect } = await import('/_rxstream/rxstream.js');
		const s = connect('/topics/silent', { transports: ['sse', 'longpoll'], cursor: '0', openTimeout: 500 });
		const got = [];
		for await (const item of s) {
			got.push(item.event.transport + ':' + item.event.data);
			if (got.length === 2) break;
		}
		return got.join(',');
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got != "longpoll:1,longpoll:2" {
		t.Fatalf("got %q", got)
	}
}
