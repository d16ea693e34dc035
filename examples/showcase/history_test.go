package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rxstream/rxstream/internal/browsertest"
)

// TestHistoryRoute: GET /topics/:topic/history pages back through a
// topic, newest first, on echo; other methods are 405.
func TestHistoryRoute(t *testing.T) {
	_, srv := newServer(t)
	for i := 1; i <= 5; i++ {
		publishText(t, srv.URL, "hist", fmt.Sprint(i))
	}
	var pages []string
	cursor := ""
	for {
		resp, err := http.Get(srv.URL + "/topics/hist/history?limit=2&before=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Events []struct{ Data string }
			Cursor string
			More   bool
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		var d []string
		for _, ev := range p.Events {
			d = append(d, ev.Data)
		}
		pages = append(pages, strings.Join(d, " "))
		if !p.More {
			break
		}
		cursor = p.Cursor
	}
	if fmt.Sprint(pages) != "[5 4 3 2 1]" {
		t.Fatalf("pages %q", pages)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/topics/hist/history", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
}

// rewindPage installs window.rw: rw.single(path, transport, options)
// connects one topic's stream, rw.multi(transport, subs) one stream of
// several topics (subs: [[topic, options]...]) and rw.add(transport, subs)
// more topics on it; each records the data it receives per topic.
// rw.history(path, options) keeps a history page.
const rewindPage = `(async () => {
	const { connect, history } = await import('/_rxstream/rxstream.js');
	const rw = window.rw = { got: {}, errors: [], pages: [], streams: [], multis: {} };
	const add = (topic, e) => { (rw.got[topic] = rw.got[topic] || []).push(e.data); };
	const opts = (t) => ({ transports: [t], openTimeout: 10000, onError: (e, tr) => rw.errors.push(tr + ': ' + e.message) });
	rw.single = (path, t, o) => {
		rw.streams.push(connect(path, { ...opts(t), ...o, onEvent: (e) => add(path, e) }));
	};
	rw.multi = (t, subs) => {
		const s = connect('/topics', opts(t));
		rw.multis[t] = s;
		rw.add(t, subs);
		rw.streams.push(s);
	};
	rw.add = (t, subs) => {
		for (const [topic, o] of subs) rw.multis[t].subscribe(topic, { ...o, onEvent: (e) => add(topic, e) });
	};
	rw.history = async (path, o) => {
		try { rw.pages.push(await history(path, o)); } catch (e) { rw.pages.push({ error: e.message, status: e.status }); }
	};
})()`

// TestBrowserRewindAndHistory: the browser client's rewind and since
// options, on every transport, for one topic and for several on one
// connection, then live events; and its history helper.
func TestBrowserRewindAndHistory(t *testing.T) {
	ctx := browsertest.New(t)
	_, srv := newServer(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/_rxstream/rxstream.js")); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, rewindPage)
	want := map[string]string{}
	for _, tr := range []string{"websocket", "sse", "longpoll", "poll"} {
		one, a, b := "one-"+tr, "mux-a-"+tr, "mux-b-"+tr
		for i := 1; i <= 3; i++ {
			for _, topic := range []string{one, a, b} {
				publishText(t, srv.URL, topic, fmt.Sprint(i))
			}
		}
		evalJS(t, ctx, fmt.Sprintf(`rw.single('/topics/%s', '%s', { rewind: 2 })`, one, tr))
		evalJS(t, ctx, fmt.Sprintf(`rw.multi('%s', [['%s', { rewind: 1 }], ['%s', { since: 60000 }]])`, tr, a, b))
		want["/topics/"+one] = "2 3 4"
		want[a] = "3 4"
		want[b] = "1 2 3 4"
	}
	got := func() (map[string][]string, []string) {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({got: rw.got, errors: rw.errors})`))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Got    map[string][]string
			Errors []string
		}
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			t.Fatal(err)
		}
		return st.Got, st.Errors
	}
	// wait waits until each topic has all it wants but the last few.
	wait := func(what string, few int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			g, errs := got()
			done := true
			for topic, w := range want {
				if len(g[topic]) < len(strings.Fields(w))-few {
					done = false
				}
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: got %v, errors %v", what, g, errs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("the rewound events", 1)
	for tr := range strings.FieldsSeq("websocket sse longpoll poll") {
		for _, topic := range []string{"one-" + tr, "mux-a-" + tr, "mux-b-" + tr} {
			publishText(t, srv.URL, topic, "4")
		}
	}
	wait("the live events", 0)
	// A topic subscribed on an open stream (on WebSocket, a subscribe
	// message; on the others, a reopen from every topic's position)
	// rewinds on its own; the others go on from their positions.
	for tr := range strings.FieldsSeq("websocket sse longpoll poll") {
		c := "mux-c-" + tr
		for i := 1; i <= 3; i++ {
			publishText(t, srv.URL, c, fmt.Sprint(i))
		}
		evalJS(t, ctx, fmt.Sprintf(`rw.add('%s', [['%s', { rewind: 2 }]])`, tr, c))
		want[c] = "2 3"
	}
	wait("the rewound events of the added topics", 0)
	g, _ := got()
	for topic, w := range want {
		if strings.Join(g[topic], " ") != w {
			t.Errorf("%s: got %v, want %s", topic, g[topic], w)
		}
	}

	evalJS(t, ctx, `rw.history('/topics/one-sse/history', { limit: 3 })`)
	evalJS(t, ctx, `rw.history('/topics/one-sse/history', { before: rw.pages[0].cursor, limit: 3 })`)
	evalJS(t, ctx, `rw.history('/topics/one-sse/history', { limit: 5000 })`)
	pages, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(rw.pages.map((p) => p.error ? p.status + ' ' + p.error : p.events.map((e) => e.data).join(' ') + ' more=' + p.more))`))
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	json.Unmarshal([]byte(pages), &ps)
	if len(ps) != 3 || ps[0] != "4 3 2 more=true" || ps[1] != "1 more=false" || !strings.HasPrefix(ps[2], "400 history: HTTP 400") {
		t.Fatalf("history pages %q", ps)
	}
}
