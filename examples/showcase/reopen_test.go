package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

// noHijack is a response writer that cannot be hijacked, so that the SSE
// stream it carries stays on its handler's goroutine and ends with the
// request's context.
type noHijack struct{ http.ResponseWriter }

func (w noHijack) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// TestBrowserSSEReopenQuiet: a single-topic SSE stream that has had no
// event yet ends, EventSource's own reconnection is refused (503, so that
// EventSource gives up), and the client reopens the stream itself. An
// event published before that reopen reaches the page: the client learns
// where the topic stood (EventSource knew it, from the stream's opening
// id block, but cannot tell) before it reopens.
func TestBrowserSSEReopenQuiet(t *testing.T) {
	a, err := newApp(config{log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var streams atomic.Int32
	end := make(chan struct{})    // ends the first stream
	third := make(chan struct{})  // the client's own reopen arrived
	served := make(chan struct{}) // lets it through
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/topics/quiet" || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			a.e.ServeHTTP(w, r)
			return
		}
		switch streams.Add(1) {
		case 1:
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			go func() {
				select {
				case <-end:
					cancel()
				case <-ctx.Done():
				}
			}()
			a.e.ServeHTTP(noHijack{w}, r.WithContext(ctx))
		case 2: // EventSource's own reconnection
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
		case 3:
			close(third)
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
	t.Cleanup(func() {
		srv.Close()
		a.hub.Close()
	})
	ctx := browsertest.New(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, `(async () => {
		const { connect } = await import('/_rxstream/rxstream.js');
		window.got = []; window.opens = 0;
		window.s = connect('/topics/quiet', { transports: ['sse'], minBackoff: 50, maxBackoff: 100,
			onOpen: () => window.opens++, onEvent: (e) => window.got.push(e.data) });
	})()`)
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`window.opens > 0`)); err != nil {
		t.Fatal(err)
	}
	close(end)
	select {
	case <-third:
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
