package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

// origin is the showcase served to a browser over plain HTTP/1.1 on an
// origin of its own (a fresh port: the browser's connections to other
// tests' servers do not count against it), with the connections the
// browser holds to it counted. The test's own requests go to api, another
// listener of the same app, so they are not counted.
type origin struct {
	*app
	URL   string // the page's origin
	api   string // for the test's own requests
	conns browsertest.Conns
}

// newOrigin starts an origin. When the test ends it fails if the browser
// ever had [browsertest.MaxPerOrigin] HTTP requests in flight to it at
// once, on as many connections: at that limit a page's next request waits
// until another one ends, so the page works or not by timing. (Idle
// keep-alive connections do not count: the browser reuses one for its
// next request.)
func newOrigin(t *testing.T, cfg config) *origin {
	t.Helper()
	cfg.log = slog.New(slog.DiscardHandler)
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{app: a}
	srv := httptest.NewUnstartedServer(a.e)
	srv.Config = a.e.Server // carries the shutdown hooks
	srv.Config.Handler = a.e
	o.conns.Count(srv)
	srv.Start()
	api := httptest.NewServer(a.e)
	o.URL, o.api = srv.URL, api.URL
	t.Cleanup(func() {
		httpMax, wsMax := o.conns.Max()
		busy := o.conns.MaxBusy()
		all, ws := o.conns.Accepted()
		t.Logf("the browser held at most %d HTTP connections (%d of them busy) and %d WebSockets to the page's origin at once (%d connections in all, %d of them WebSockets)", httpMax, busy, wsMax, all, ws)
		if busy >= browsertest.MaxPerOrigin {
			t.Errorf("the page had %d HTTP/1.1 requests in flight to its origin at once: at the browser's limit of %d its next request waits for one to end", busy, browsertest.MaxPerOrigin)
		}
		srv.Config.Shutdown(t.Context())
		srv.Close()
		api.Close()
		a.hub.Close()
	})
	return o
}

// newTab opens a tab of the browser that closes when the test ends.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	return tab
}

// TestBrowserSSE opens the page in headless Chromium with its connection on
// SSE: the SSE panels receive multi-line and non-ASCII data intact.
func TestBrowserSSE(t *testing.T) {
	o := newOrigin(t, config{})
	ctx := browsertest.New(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(o.URL+"/?panels=sse&transport=sse"),
		chromedp.WaitVisible(`#sse-interval ol li`), // the interval stream runs
		chromedp.Poll[chromedp.Void](`document.querySelector('#sse-topic .state').textContent === 'open over sse'`),
	); err != nil {
		t.Fatal(err)
	}
	const data = "first line\nsecond line 你好 🎉\r\nthird ✓"
	resp, err := http.Post(o.api+"/topics/chat", "text/plain", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#sse-topic ol li`)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.TextContent(`#sse-topic ol li`))
	if err != nil {
		t.Fatal(err)
	}
	// Several topics on SSE carry each event's data as a JSON string: it
	// arrives as published, CRLF too (the data lines of a one-topic stream
	// come back joined with LF).
	if want := data; !strings.HasSuffix(got, want) {
		t.Fatalf("page shows %q, want it to end with %q", got, want)
	}
	browsertest.Screenshot(t, ctx, "showcase-sse.png")
}
