package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

// connKey is the request context key of the connection it came on.
type connKey struct{}

// TestBrowserReopenQuiet: a single-topic stream that has had no event yet
// is cut off (its TCP connection closed, so without a close frame or a
// last event), and the client reopens it itself (on SSE after
// EventSource's own reconnection is refused with a 503, so that
// EventSource gives up; it knew the position, from the stream's opening id
// block, but cannot tell). An event published before that reopen reaches the page: the
// client learns where the topic stood before it reopens.
func TestBrowserReopenQuiet(t *testing.T) {
	browser := browsertest.New(t)
	for _, transport := range []string{"sse", "websocket"} {
		t.Run(transport, func(t *testing.T) { reopenQuiet(t, browser, transport) })
	}
}

func reopenQuiet(t *testing.T, browser context.Context, transport string) {
	a, err := newApp(config{log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ours := func(r *http.Request) bool {
		if transport == "websocket" {
			return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		}
		return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	}
	reopen := int32(2) // the request that is the client's own reopen
	if transport == "sse" {
		reopen = 3 // after EventSource's own reconnection, refused
	}
	var streams atomic.Int32
	end := make(chan struct{})    // ends the first stream
	again := make(chan struct{})  // the client's own reopen arrived
	served := make(chan struct{}) // lets it through
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/topics/quiet" || !ours(r) {
			a.e.ServeHTTP(w, r)
			return
		}
		switch n := streams.Add(1); {
		case n == 1:
			go func() {
				<-end
				r.Context().Value(connKey{}).(net.Conn).Close() // parked or hijacked too
			}()
			a.e.ServeHTTP(w, r)
		case n < reopen:
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
		case n == reopen:
			close(again)
			select {
			case <-served:
			case <-r.Context().Done():
				return
			}
			a.e.ServeHTTP(w, r)
		default:
			a.e.ServeHTTP(w, r)
		}
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		a.hub.Close()
	})
	tab, cancelTab := chromedp.NewContext(browser)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, `(async () => {
		const { connect } = await import('/_rxstream/rxstream.js');
		window.got = []; window.opens = 0;
		window.s = connect('/topics/quiet', { transports: ['`+transport+`'], minBackoff: 50, maxBackoff: 100,
			onOpen: () => window.opens++, onEvent: (e) => window.got.push(e.data) });
	})()`)
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.opens > 0`)); err != nil {
		t.Fatal(err)
	}
	close(end)
	select {
	case <-again:
	case <-ctx.Done():
		t.Fatalf("the client did not reopen its stream (%d streams)", streams.Load())
	}
	publishText(t, srv.URL, "quiet", "while away")
	close(served)
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.got.length > 0`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`))
		t.Fatalf("the page got %q, want the event published before its reopen: %v", got, err)
	}
	publishText(t, srv.URL, "quiet", "after")
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.got.length >= 2`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`)); strings.Join(got, "|") != "while away|after" {
		t.Fatalf("the page got %q, want each event once, in order", got)
	}
}
