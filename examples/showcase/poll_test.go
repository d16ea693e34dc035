package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

type pollBody struct {
	Events []struct{ ID, Data string }
	Cursor string
	Retry  *int64
}

func getJSON(t *testing.T, u string, v any) *http.Response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return resp
}

func TestDeferredResult(t *testing.T) {
	_, srv := newServer(t)
	var b pollBody
	if resp := getJSON(t, srv.URL+"/poll?after=10ms", &b); resp.StatusCode != http.StatusOK || len(b.Events) != 1 || b.Events[0].Data != "new message" {
		t.Fatalf("got %d %+v", resp.StatusCode, b)
	}
	for _, bad := range []string{"x", "-1s", "2m"} {
		if resp := getJSON(t, srv.URL+"/poll?after="+bad, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("after=%s: %d", bad, resp.StatusCode)
		}
	}
}

func TestTopicPolls(t *testing.T) {
	_, srv := newServer(t)
	resp, err := http.Post(srv.URL+"/topics/chat", "text/plain", strings.NewReader("你好"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, path := range []string{"/topics/chat/longpoll?cursor=0", "/topics/chat/poll?cursor=0"} {
		var b pollBody
		if resp := getJSON(t, srv.URL+path, &b); resp.StatusCode != http.StatusOK || len(b.Events) != 1 || b.Events[0].Data != "你好" || b.Cursor != b.Events[0].ID {
			t.Errorf("%s: %d %+v", path, resp.StatusCode, b)
		}
	}
}

// A long poll held at shutdown is answered 503 at once.
func TestPollShutdown(t *testing.T) {
	a, srv := newServer(t)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/topics/quiet/longpoll")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	for deadline := time.Now().Add(10 * time.Second); a.hub.Topics() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long poll did not park")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.e.Server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if status := <-got; status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", status)
	}
}

// TestBrowserPoll opens the page in headless Chromium with its connection
// on long-poll: the deferred result arrives, and a published event reaches
// the panel's two topic lists.
func TestBrowserPoll(t *testing.T) {
	o := newOrigin(t, config{})
	ctx := browsertest.New(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(o.URL+"/?panels=poll&transport=longpoll"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#poll-long .state').textContent === 'open over longpoll'`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#poll-short .state').textContent === 'open over longpoll'`),
	); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(o.api+"/topics/chat", "text/plain", strings.NewReader("polled 你好"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, panel := range []string{"#poll-long", "#poll-short"} {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(panel+` ol li`)); err != nil {
			t.Fatal(panel, err)
		}
		text, err := chromedp.Run(ctx, chromedp.TextContent(panel+` ol li`))
		if err != nil {
			t.Fatal(panel, err)
		}
		if !strings.HasSuffix(text, "polled 你好") {
			t.Errorf("%s shows %q", panel, text)
		}
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#poll-deferred ol li`)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.TextContent(`#poll-deferred ol li`))
	if err != nil {
		t.Fatal(err)
	}
	if text != "new message" {
		t.Errorf("deferred result %q", text)
	}
	browsertest.Screenshot(t, ctx, "showcase-poll.png")
}
