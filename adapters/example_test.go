package adapters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
)

// One URL for every transport on the standard library's mux, with the
// authorization hook asked about the very topic served.
func ExampleEndpoint_Topic() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{
		Publish: true,
		Authorize: func(r *http.Request, topic string, a adapters.Action) error {
			if a == adapters.Publish && topic != "chat" {
				return &adapters.StatusError{Code: http.StatusForbidden, Message: "read-only topic"}
			}
			return nil
		},
	})
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	seen, _ := hub.Publish(context.Background(), "chat", framework.Text("seen before"))
	for _, room := range []string{"chat", "news"} {
		resp, _ := http.Post(ts.URL+"/rooms/"+room, "text/plain", strings.NewReader("hi"))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println("POST", room, resp.StatusCode, strings.Contains(string(body), "read-only"))
	}
	resp, _ := http.Get(ts.URL + "/rooms/chat?transport=longpoll&cursor=" + seen)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("GET chat", resp.StatusCode, strings.Contains(string(body), `"data":"hi"`))
	// Output:
	// POST chat 200 false
	// POST news 403 true
	// GET chat 200 true
}

// A chat's history beside its stream: the newest page first, then the
// page before it.
func ExampleEndpoint_History() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(nil)
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}", ep.Topic(hub, adapters.Param("topic")))
	mux.Handle("GET /topics/{topic}/history", ep.History(hub, adapters.Param("topic")))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for _, msg := range []string{"one", "two", "three"} {
		hub.Publish(context.Background(), "chat", framework.Text(msg))
	}

	get := func(query string) (page struct {
		Events []struct{ Data string }
		Cursor string
		More   bool
	}) {
		resp, err := http.Get(ts.URL + "/topics/chat/history?" + query)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&page)
		return page
	}
	page := get("limit=2")
	fmt.Println(page.Events, page.More)
	page = get("limit=2&before=" + page.Cursor)
	fmt.Println(page.Events, page.More)
	// Output:
	// [{three} {two}] true
	// [{one}] false
}

// An authorization hook that tells until when its answer holds: the stream
// ends then, on every transport; here an SSE stream ends with an event
// named "expired", and a poll after it is refused 401, although the hook
// itself would still let it in.
func ExampleExpiresAt() {
	hub := &framework.Hub{}
	defer hub.Close()
	exp := time.Now().Add(200 * time.Millisecond)
	ep, _ := adapters.New(&adapters.Options{
		Authorize: func(r *http.Request, topic string, a adapters.Action) error {
			adapters.SetUser(r, "alice")
			adapters.ExpiresAt(r, exp) // a JWT's exp, say
			return nil
		},
	})
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/rooms/chat", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, _ := http.DefaultClient.Do(req)
	d := sse.NewDecoder(resp.Body)
	ev, _ := d.Next()
	fmt.Println("event:", ev.Name)
	_, err := d.Next()
	fmt.Println("then:", err)
	resp.Body.Close()
	resp, err = http.Get(ts.URL + "/rooms/chat?transport=poll")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("a poll:", resp.StatusCode)
	// Output:
	// event: expired
	// then: EOF
	// a poll: 401
}

// Revoking a user ends their streams on every transport of the Endpoint
// (with a Relay, on every node): here an SSE stream ends with an event
// named "revoked".
func ExampleEndpoint_Revoke() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{
		Authorize: func(r *http.Request, topic string, a adapters.Action) error {
			adapters.SetUser(r, r.URL.Query().Get("user")) // the token's subject, say
			return nil
		},
	})
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/rooms/chat?user=alice", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req) // the stream is open once its headers come
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	n, err := ep.Revoke(context.Background(), "alice")
	fmt.Println("ended:", n, err)
	ev, _ := sse.NewDecoder(resp.Body).Next()
	fmt.Println("event:", ev.Name)
	// Output:
	// ended: 1 <nil>
	// event: revoked
}

// A Gate with limits of its own, shared by every transport: past them a
// request is refused 429 with a Retry-After.
func ExampleNewGate() {
	hub := &framework.Hub{}
	defer hub.Close()
	gate, _ := adapters.NewGate(&adapters.GateOptions{
		MaxPerUser:    1,   // open connections of one user
		MaxPerAddress: 100, // open connections from one client address
		ConnectRate:   10,  // connection attempts per second from one address
		// TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, behind a proxy
	})
	ep, _ := adapters.New(&adapters.Options{
		Gate: gate,
		Authorize: func(r *http.Request, topic string, a adapters.Action) error {
			adapters.SetUser(r, "alice")
			return nil
		},
	})
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	first, err := http.Get(ts.URL + "/rooms/chat?transport=sse")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Body.Close()
	second, err := http.Get(ts.URL + "/rooms/chat?transport=sse")
	if err != nil {
		fmt.Println(err)
		return
	}
	second.Body.Close()
	fmt.Println(first.StatusCode, second.StatusCode, second.Header.Get("Retry-After") != "")
	// Output:
	// 200 429 true
}
