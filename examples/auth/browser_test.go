package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/internal/browsertest"
)

// TestBrowserRefresh opens the page in headless Chromium on each
// transport with a token that expires 4 s after it was issued, while
// events are published for 10 s: the page's client renews its token
// before every exp (POST /token), keeps its WebSocket open with refresh
// messages and reopens SSE and polls from its cursor, and shows every
// event once, in order. None of its streams is ended by an expiry. (On a
// machine so busy that the page takes longer to load than its first token
// lasts, the first connection is refused, and the client recovers with a
// fresh token: that failure, before any connection opened, is allowed.)
func TestBrowserRefresh(t *testing.T) {
	browser := browsertest.New(t)
	for _, transport := range []string{"websocket", "sse", "longpoll", "poll"} {
		// One tab at a time: the browser throttles the timers of a tab in
		// the background, and the refresh would come late.
		t.Run(transport, func(t *testing.T) {
			a, srv := newServerWith(t, adapters.GateOptions{}) // an origin of its own
			ctx := openPage(t, browser, srv.URL, transport, 60*time.Second)
			start := time.Now()
			var published []string
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for range 100 {
				<-tick.C
				id, err := a.hub.Publish(ctx, "news", eventOf("event"))
				if err != nil {
					t.Fatal(err)
				}
				published = append(published, id)
			}
			defer func() {
				if t.Failed() {
					lines, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.log`))
					t.Logf("published from %s; the page's log:\n%s", start.UTC().Format("15:04:05.000"), strings.Join(lines, "\n"))
				}
			}()
			wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
			defer cancelWait()
			if err := chromedp.Do(wait, chromedp.Poll[chromedp.Void](`window.received.length >= 100`)); err != nil {
				state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({received: window.received.length, tokens: window.tokens, opens: window.opens, failures: window.failures})`))
				t.Fatalf("%v: the page holds %s", err, state)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.received`))
			if err != nil {
				t.Fatal(err)
			}
			failures, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.failures.filter((f) => f.opened).map((f) => f.what)`))
			if err != nil {
				t.Fatal(err)
			}
			counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[window.tokens, window.opens]`))
			if err != nil {
				t.Fatal(err)
			}
			tokens, opens := counts[0], counts[1]
			t.Logf("%d tokens, %d connections, failures %q", tokens, opens, failures)
			if !slices.Equal(got, published) {
				t.Fatalf("received %d events, published %d: lost, repeated or reordered\ngot  %v\nwant %v", len(got), len(published), got, published)
			}
			if tokens < 3 {
				t.Errorf("%d tokens over 10 s of tokens that last 4 s", tokens)
			}
			if len(failures) > 0 {
				t.Errorf("the client failed: %q", failures)
			}
			if transport == "websocket" && opens != 1 {
				t.Errorf("the WebSocket opened %d times, want once: refreshed, never reopened", opens)
			}
		})
	}
}

// TestBrowserLimitClose opens the page in two tabs of headless Chromium
// as one user, with one connection per user allowed: the second tab's
// WebSocket is closed at once with 1008 and a reason that says when to
// try again, which its client reports (onError) and waits for, on the
// WebSocket, rather than reconnecting at once or falling back to the
// other transports (which would be refused too). Once the first tab is
// gone, the second connects and receives.
func TestBrowserLimitClose(t *testing.T) {
	browser := browsertest.New(t)
	var attempts atomic.Int64 // stream requests, on any transport
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/topics/news/") {
				attempts.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	// Retry in 3 to 6 s: the window watched below is shorter.
	a, srv := newServerWith(t, adapters.GateOptions{MaxPerUser: 1, RetryAfter: 3 * time.Second}, count)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	open := func(ctx context.Context, transport string) {
		t.Helper()
		q := url.Values{"token": {mustMint(t, []string{"news"}, nil, time.Minute)}}
		if transport != "" {
			q.Set("transport", transport)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
	}
	first, cancelFirst := chromedp.NewContext(ctx)
	defer cancelFirst()
	open(first, "websocket")
	if err := chromedp.Do(first, chromedp.Poll[chromedp.Void](`window.opens > 0`)); err != nil {
		t.Fatal(err)
	}
	before := attempts.Load()

	second, cancelSecond := chromedp.NewContext(ctx)
	defer cancelSecond()
	open(second, "") // every transport, WebSocket first
	refused, err := chromedp.Run(second, chromedp.Poll[string](`window.failures.map((f) => f.what).find((w) => w.includes('closed 1008')) || false`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refused, "retry in ") {
		t.Errorf("the page was told %q, without when to retry", refused)
	}
	refusedAt := attempts.Load()
	time.Sleep(2 * time.Second) // within the retry delay
	if n := attempts.Load() - refusedAt; n > 1 {
		lines, _ := chromedp.Run(second, chromedp.Evaluate[[]string](`window.log`))
		t.Fatalf("%d more connection attempts within 2 s of a close that said to retry in 3 s or more; the page's log:\n%s", n, strings.Join(lines, "\n"))
	}
	t.Logf("%d attempts of the second tab until refused", refusedAt-before)

	cancelFirst() // the user's one connection goes
	wait, cancelWait := context.WithTimeout(second, 30*time.Second)
	defer cancelWait()
	for {
		if _, err := a.hub.Publish(wait, "news", eventOf("after")); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(wait, chromedp.Evaluate[int](`window.received.length`))
		if err != nil {
			t.Fatalf("the second tab received nothing once the first was gone: %v", err)
		}
		if got > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	via, _ := chromedp.Run(second, chromedp.Evaluate[string](`document.getElementById('transport').textContent`))
	if via != "websocket" {
		t.Errorf("the second tab is served over %q, want websocket: a limit is no reason to fall back", via)
	}
}

// TestBrowserResumeQuiet opens the page in headless Chromium on each
// transport, following a topic that has had no event yet, with a token
// that lasts 4 s, and holds its POST /token: the WebSocket is closed at
// exp (its close reason carries the cursor), SSE and the polls are
// closed to be reopened with the new token. An event published then,
// before the client has its new token, reaches it once it has, once; and
// one published after, too.
func TestBrowserResumeQuiet(t *testing.T) {
	browser := browsertest.New(t)
	for _, transport := range []string{"websocket", "sse", "longpoll", "poll"} {
		t.Run(transport, func(t *testing.T) {
			asked := make(chan struct{}, 1)
			release := make(chan struct{})
			hold := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/token" {
						select {
						case asked <- struct{}{}:
						default:
						}
						select {
						case <-release:
						case <-r.Context().Done():
						}
					}
					next.ServeHTTP(w, r)
				})
			}
			a, srv := newServerWith(t, adapters.GateOptions{}, hold)
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			ctx := openPage(t, browser, srv.URL, transport, 30*time.Second)
			defer func() {
				if t.Failed() {
					lines, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.log`))
					t.Logf("the page's log:\n%s", strings.Join(lines, "\n"))
				}
			}()
			select { // the client asks for a new token before exp: SSE and the polls have closed their stream
			case <-asked:
			case <-ctx.Done():
				t.Fatal("no POST /token")
			}
			if transport == "websocket" { // it stays open until exp
				if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.failures.some((f) => f.what.includes('expired'))`)); err != nil {
					t.Fatal(err)
				}
			}
			var published []string
			publish := func(data string) {
				t.Helper()
				id, err := a.hub.Publish(ctx, "news", eventOf(data))
				if err != nil {
					t.Fatal(err)
				}
				published = append(published, id)
			}
			received := func() {
				t.Helper()
				if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.received.length >= `+strconv.Itoa(len(published)))); err != nil {
					got, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.received`))
					t.Fatalf("%v: received %q of %q", err, got, published)
				}
			}
			publish("while reconnecting")
			close(release)
			received()
			publish("after")
			received()
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.received`))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, published) {
				t.Fatalf("received %q, published %q", got, published)
			}
		})
	}
}

// openPage opens the page in a tab of browser, following news over
// transport with a 4 s token, and waits for its first open; the tab closes
// when the test ends, or after limit.
func openPage(t *testing.T, browser context.Context, base, transport string, limit time.Duration) context.Context {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(browser)
	ctx, cancel := context.WithTimeout(tab, limit)
	t.Cleanup(func() { cancel(); cancelTab() })
	tok := mustMint(t, []string{"news"}, nil, 4*time.Second)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/?"+url.Values{"token": {tok}, "transport": {transport}}.Encode()),
		chromedp.Poll[chromedp.Void](`window.opens > 0`),
	); err != nil {
		t.Fatal(err)
	}
	return ctx
}
