package adapters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rxstream/rxstream/adapters"
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
