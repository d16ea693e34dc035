package main

import (
	"context"
	"net/url"
	"slices"
	"strings"
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
			tab, cancelTab := chromedp.NewContext(browser)
			defer cancelTab()
			ctx, cancel := context.WithTimeout(tab, 60*time.Second)
			defer cancel()
			tok := mustMint(t, []string{"news"}, nil, 4*time.Second)
			if err := chromedp.Do(ctx,
				chromedp.Navigate(srv.URL+"/?"+url.Values{"token": {tok}, "transport": {transport}}.Encode()),
				chromedp.Poll[chromedp.Void](`window.opens > 0`),
			); err != nil {
				t.Fatal(err)
			}
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
