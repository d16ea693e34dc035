package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/browsertest"
)

// onlineText waits until the chat panel of tab says want is online.
func onlineText(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	var got string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('chat-online').textContent`))
		if got == want {
			return
		}
	}
	t.Fatalf("online: %q, want %q", got, want)
}

// TestBrowserChatOnline: the chat panel of one tab lists who is online,
// and sees another tab's visitor, on each transport, join and leave (a
// poll transport by listing again: its polls carry them in part or not
// at all).
func TestBrowserChatOnline(t *testing.T) {
	browser := browsertest.New(t)
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		t.Run(tr, func(t *testing.T) {
			o := newOrigin(t, config{})
			a := newTab(t, browser)
			if err := chromedp.Do(a, chromedp.Navigate(o.URL+"/?panels=chat&user=ann&transport="+tr)); err != nil {
				t.Fatal(err)
			}
			onlineText(t, a, "ann")
			b, closeB := chromedp.NewContext(browser)
			defer closeB()
			if err := chromedp.Do(b, chromedp.Navigate(o.URL+"/?panels=chat&user=bob&transport="+tr)); err != nil {
				t.Fatal(err)
			}
			onlineText(t, a, "ann, bob")
			onlineText(t, b, "ann, bob") // listed when it opened

			resp, err := http.Get(o.api + "/topics/chat/presence")
			if err != nil {
				t.Fatal(err)
			}
			var page framework.PresencePage
			json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if len(page.Members) != 2 || page.Members[0].User != "ann" || page.Members[1].User != "bob" {
				t.Fatalf("GET /topics/chat/presence: %+v", page)
			}
			closeB() // bob's tab goes: he leaves after the coalescing window
			onlineText(t, a, "ann")
		})
	}
}
