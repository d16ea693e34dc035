package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

// TestBrowserSSE opens the page in headless Chromium: its EventSource panels
// receive multi-line and non-ASCII data intact.
func TestBrowserSSE(t *testing.T) {
	_, srv := newServer(t)
	ctx := browsertest.New(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(`#sse-interval ol li`), // the interval stream runs
		chromedp.Poll[chromedp.Void](`document.querySelector('#sse-topic .state').textContent === 'open'`),
	); err != nil {
		t.Fatal(err)
	}
	const data = "first line\nsecond line 你好 🎉\r\nthird ✓"
	resp, err := http.Post(srv.URL+"/topics/chat", "text/plain", strings.NewReader(data))
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
	// EventSource joins data lines with LF: CRLF comes back as LF.
	if want := "first line\nsecond line 你好 🎉\nthird ✓"; !strings.HasSuffix(got, want) {
		t.Fatalf("page shows %q, want it to end with %q", got, want)
	}
	browsertest.Screenshot(t, ctx, "showcase-sse.png")
}
