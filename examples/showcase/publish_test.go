package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/internal/browsertest"
)

// flaky serves the app, doing to each POST what the next step of its
// script says (a step not given lets it through), and records each POST.
type flaky struct {
	app http.Handler

	mu    sync.Mutex
	steps []string // "drop": publish, then close the connection without an answer; "503": answer 503 with Retry-After: 1; "403"
	posts []post1
}

type post1 struct {
	key string
	at  time.Time
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.app.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.posts = append(f.posts, post1{key: r.Header.Get(adapters.KeyHeader), at: time.Now()})
	step := ""
	if len(f.steps) > 0 {
		step, f.steps = f.steps[0], f.steps[1:]
	}
	f.mu.Unlock()
	switch step {
	case "drop":
		rec := httptest.NewRecorder()
		f.app.ServeHTTP(rec, r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	case "503":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	case "403":
		http.Error(w, `{"message":"not yours"}`, http.StatusForbidden)
	default:
		f.app.ServeHTTP(w, r)
	}
}

// script sets the next POSTs' steps and forgets the POSTs recorded.
func (f *flaky) script(steps ...string) {
	f.mu.Lock()
	f.steps, f.posts = steps, nil
	f.mu.Unlock()
}

func (f *flaky) recorded() []post1 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post1(nil), f.posts...)
}

// TestBrowserPublish: the browser client's publish, from the page's form
// and called directly, sends one idempotency key with every attempt and
// retries a lost answer and a 503 (no sooner than its Retry-After): the
// event is stored once and the chat panel shows it once. A 403 and a bad
// key are final.
func TestBrowserPublish(t *testing.T) {
	a, err := newApp(config{log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{app: a.e}
	srv := httptest.NewUnstartedServer(f)
	srv.Config = a.e.Server // carries the shutdown hooks
	srv.Config.Handler = f
	// Every request on a connection of its own: Chromium resends by
	// itself a request whose reused keep-alive connection closed before
	// any answer (with the same key, so that would pass too), and the
	// drop must be retried by publish.
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	t.Cleanup(func() {
		srv.Config.Shutdown(t.Context())
		srv.Close()
		a.hub.Close()
	})
	ctx := browsertest.New(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?panels=chat")); err != nil {
		t.Fatal(err)
	}
	waitChat(t, ctx, "chat open", func(r received) bool { return len(r.Transports) > 0 })

	hexKey := regexp.MustCompile(`^[0-9a-f]{32}$`)
	checkPosts := func(t *testing.T, want int) []post1 {
		t.Helper()
		posts := f.recorded()
		if len(posts) != want {
			t.Fatalf("%d POSTs; want %d", len(posts), want)
		}
		for i, p := range posts {
			if p.key != posts[0].key || !hexKey.MatchString(p.key) {
				t.Fatalf("POST %d had key %q; the first %q", i+1, p.key, posts[0].key)
			}
		}
		return posts
	}
	stored := func(data string) []string {
		p, err := a.hub.Broker().Read(context.Background(), "chat", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Records {
			if string(r.Event.Data) == data {
				ids = append(ids, r.Event.ID)
			}
		}
		return ids
	}
	shown := func(data string) int {
		n := 0
		for _, ev := range chatState(t, ctx).Events {
			if ev.Data == data {
				n++
			}
		}
		return n
	}
	// publishJS publishes from the page and returns the ID, or the
	// error's status and message.
	publishJS := func(data, opts string) (id string, status int, msg string) {
		t.Helper()
		js := fmt.Sprintf(`import('/_rxstream/rxstream.js').then((m) => m.publish('/topics/chat', %q, %s))
			.then((id) => JSON.stringify({id}), (err) => JSON.stringify({status: err.status || 0, message: err.message}))`, data, opts)
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			ID      string
			Status  int
			Message string
		}
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatal(err)
		}
		return v.ID, v.Status, v.Message
	}

	t.Run("form, lost answer", func(t *testing.T) {
		f.script("drop")
		const data = "from the form 你好"
		if err := chromedp.Do(ctx,
			chromedp.SetValue(`#publish [name=data]`, data),
			chromedp.Click(`#publish button`),
			chromedp.Poll[chromedp.Void](`document.getElementById('published').textContent.startsWith('published ')`),
		); err != nil {
			t.Fatal(err)
		}
		text, _ := chromedp.Run(ctx, chromedp.TextContent(`#published`))
		checkPosts(t, 2)
		ids := stored(data)
		if len(ids) != 1 || text != "published "+ids[0] {
			t.Fatalf("stored %q; the page says %q", ids, text)
		}
		waitChat(t, ctx, "the event", func(received) bool { return shown(data) > 0 })
	})
	t.Run("lost answer, then 503", func(t *testing.T) {
		f.script("drop", "503")
		id, status, msg := publishJS("retried", `{minBackoff: 10}`)
		if id == "" {
			t.Fatalf("rejected: %d %s", status, msg)
		}
		posts := checkPosts(t, 3)
		if d := posts[2].at.Sub(posts[1].at); d < time.Second {
			t.Errorf("retried %v after a 503 with Retry-After: 1", d)
		}
		if ids := stored("retried"); len(ids) != 1 || ids[0] != id {
			t.Fatalf("stored %q; publish resolved to %q", ids, id)
		}
		waitChat(t, ctx, "the event", func(received) bool { return shown("retried") > 0 })
	})
	t.Run("403 is final", func(t *testing.T) {
		f.script("403")
		if id, status, msg := publishJS("refused", `{minBackoff: 10}`); id != "" || status != 403 || !strings.Contains(msg, "not yours") {
			t.Fatalf("resolved %q, or rejected %d %q; want a 403", id, status, msg)
		}
		checkPosts(t, 1)
	})
	t.Run("bad key", func(t *testing.T) {
		f.script()
		if id, _, msg := publishJS("refused", `{key: 'a\tb'}`); id != "" || !strings.Contains(msg, "printable ASCII") {
			t.Fatalf("resolved %q, or rejected %q", id, msg)
		}
		checkPosts(t, 0)
	})
	t.Run("caller's key", func(t *testing.T) {
		f.script()
		first, _, _ := publishJS("keyed", `{key: 'order 17'}`)
		again, _, _ := publishJS("keyed", `{key: 'order 17'}`)
		if first == "" || again != first || len(stored("keyed")) != 1 {
			t.Fatalf("ids %q %q, stored %q", first, again, stored("keyed"))
		}
	})
	// Every event was shown once: published once, delivered once.
	time.Sleep(200 * time.Millisecond)
	for _, data := range []string{"from the form 你好", "retried", "keyed"} {
		if n := shown(data); n != 1 {
			t.Errorf("the chat shows %q %d times", data, n)
		}
	}
}
