package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

// TestBrowserConnectionBudget loads the page over HTTP/1.1 with each panel
// alone, and with the chat alone on each transport, each on an origin and a
// tab of its own, and lets it run longer than any panel's cycle (the
// deferred poll answers after 3 s): every panel must be live, and none may
// have held browsertest.MaxPerOrigin HTTP connections to its origin at once
// (newOrigin checks). A panel that adds a stream fails here, by name,
// instead of making another browser test flaky. Measured: each of these
// pages held at most 2 or 3 HTTP connections at once. With every topic
// panel on the page's one connection, the whole page holds two streams of
// its own (the interval and the deferred poll) besides it.
func TestBrowserConnectionBudget(t *testing.T) {
	names, _, err := panelNames()
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, name := range names {
		pages = append(pages, "?panels="+name)
	}
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		pages = append(pages, "?panels=chat&transport="+tr)
	}
	browser := browsertest.New(t)
	for _, page := range pages {
		t.Run(page, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, config{})
			ctx := newTab(t, browser)
			if err := chromedp.Do(ctx, chromedp.Navigate(o.URL+"/"+page)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(4 * time.Second)
			checkPanelsLive(t, ctx)
		})
	}
}

// TestBrowserWholePageHTTP2 runs the whole page over HTTP/2, where its
// streams share one connection: every panel is live.
func TestBrowserWholePageHTTP2(t *testing.T) {
	srv := newTLSServer(t, true)
	ctx := browsertest.New(t, "ignore-certificate-errors")
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // longer than any panel's cycle
	checkPanelsLive(t, ctx)
	if proto, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType('navigation')[0].nextHopProtocol`)); err != nil || proto != "h2" {
		t.Fatalf("the page came over %q (%v), want h2", proto, err)
	}
}

// checkPanelsLive: every panel on the page says what its streams do, and
// none is still connecting, or failing.
func checkPanelsLive(t *testing.T, ctx context.Context) {
	t.Helper()
	states, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.panel .state, #chat-state')].map(e => e.closest('.panel').id + ': ' + e.textContent.trim().replace(/\s+/g, ' '))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) == 0 {
		t.Fatal("the page has no panel")
	}
	for _, s := range states {
		for _, bad := range []string{"connecting", "error", "failed", "closed", "retrying"} {
			if strings.Contains(s, bad) {
				t.Errorf("panel %s", s)
			}
		}
	}
}
