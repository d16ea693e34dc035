package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNoEcho: the example's whole import graph is the standard library
// and rxstream's net/http core.
func TestNoEcho(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !strings.Contains(string(out), "github.com/rxstream/rxstream/adapters/sse") {
		t.Fatalf("go list -deps listed %d packages, not the example's graph:\n%s", len(deps), out)
	}
	for _, d := range deps {
		if strings.Contains(d, "labstack") {
			t.Errorf("%s is in the import graph", d)
		}
	}
}

// start serves the example on a free loopback port until the test ends.
func start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

func publish(t *testing.T, base, topic, data string) string {
	t.Helper()
	resp, err := http.Post(base+"/topics/"+topic, "text/plain", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.ID == "" {
		t.Fatalf("POST %s: %d %v %+v", topic, resp.StatusCode, err, body)
	}
	return body.ID
}

// take returns the first n events of obs, within 10 s.
func take(t *testing.T, obs rxgo.Observable, n int) []framework.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []framework.Event
	for it := range obs.Observe(rxgo.WithContext(ctx)) {
		if it.E != nil {
			t.Fatalf("after %d events: %v", len(got), it.E)
		}
		if ev, ok := it.V.(framework.Event); ok {
			if got = append(got, ev); len(got) == n {
				return got
			}
		}
	}
	t.Fatalf("got %d events of %d: %v", len(got), n, got)
	return nil
}

// A client of each transport, on the one URL and on the transport's own,
// receives what is published, and one that resumes from a cursor gets
// exactly what followed it.
func TestEveryTransport(t *testing.T) {
	base := start(t)
	type client func(url, cursor string) rxgo.Observable
	clients := map[string]client{
		"sse": func(u, c string) rxgo.Observable {
			cl, err := sse.NewClient(u, &sse.ClientOptions{Cursor: c})
			if err != nil {
				t.Fatal(err)
			}
			return cl.Events()
		},
		"longpoll": func(u, c string) rxgo.Observable {
			cl, err := longpoll.NewClient(u, &longpoll.ClientOptions{Cursor: c})
			if err != nil {
				t.Fatal(err)
			}
			return cl.Events()
		},
		"poll": func(u, c string) rxgo.Observable {
			cl, err := shortpoll.NewClient(u, &shortpoll.ClientOptions{Cursor: c, Interval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return cl.Events()
		},
		"ws": func(u, c string) rxgo.Observable {
			cl, err := websocket.NewClient(strings.Replace(u, "http", "ws", 1), &websocket.ClientOptions{Cursor: c})
			if err != nil {
				t.Fatal(err)
			}
			return cl.Events()
		},
	}
	for name, newClient := range clients {
		for _, route := range []string{"endpoint", "own"} {
			t.Run(name+"/"+route, func(t *testing.T) {
				topic := "t-" + name + "-" + route
				u := base + "/topics/" + topic
				switch {
				case route == "own":
					u += "/" + name
				case name == "longpoll" || name == "poll":
					u += "?transport=" + name
				}
				ids := []string{publish(t, base, topic, "one"), publish(t, base, topic, "two"), publish(t, base, topic, "three")}
				got := take(t, newClient(u, ids[0]), 2)
				if got[0].ID != ids[1] || got[1].ID != ids[2] || string(got[1].Data) != "three" {
					t.Fatalf("resuming after %s: %v, want %v", ids[0], got, ids[1:])
				}
				four := publish(t, base, topic, "four")
				if got := take(t, newClient(u, ids[2]), 1); got[0].ID != four || string(got[0].Data) != "four" {
					t.Fatalf("resuming after %s: %v, want %s", ids[2], got, four)
				}
			})
		}
	}
	t.Run("multiplexed", func(t *testing.T) {
		a, b := publish(t, base, "mux-a", "a1"), publish(t, base, "mux-b", "b1")
		m, err := sse.NewMultiClient(base+"/topics", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		sa, err := m.Subscribe("mux-a", a)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := m.Subscribe("mux-b", b)
		if err != nil {
			t.Fatal(err)
		}
		a2, b2 := publish(t, base, "mux-a", "a2"), publish(t, base, "mux-b", "b2")
		if got := take(t, sa.Events(), 1); got[0].ID != a2 {
			t.Fatalf("mux-a: %v, want %s", got, a2)
		}
		if got := take(t, sb.Events(), 1); got[0].ID != b2 {
			t.Fatalf("mux-b: %v, want %s", got, b2)
		}
	})
	t.Run("producer", func(t *testing.T) {
		cl, err := sse.NewClient(base+"/ticks", &sse.ClientOptions{Cursor: "41"})
		if err != nil {
			t.Fatal(err)
		}
		if got := take(t, cl.Events(), 1); got[0].ID != "42" || string(got[0].Data) != "tick 42" {
			t.Fatalf("/ticks after 41: %v, want tick 42", got)
		}
	})
}

// TestHistoryAndRewind: over the real server, a client pages back through
// a topic's history, newest first, to its first event; another joins
// late and asks for the last two events before the live ones.
func TestHistoryAndRewind(t *testing.T) {
	base := start(t)
	var ids []string
	for _, d := range []string{"one", "two", "three", "four", "five"} {
		ids = append(ids, publish(t, base, "chat", d))
	}
	type page struct {
		Events []struct{ ID, Data string }
		Cursor string
		More   bool
	}
	get := func(query string) page {
		t.Helper()
		resp, err := http.Get(base + "/topics/chat/history?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p page
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", query, resp.StatusCode, err)
		}
		return p
	}
	var seen []string
	for p := get("limit=2"); ; p = get("limit=2&before=" + p.Cursor) {
		for _, ev := range p.Events {
			seen = append(seen, ev.Data)
		}
		if !p.More {
			break
		}
	}
	if strings.Join(seen, " ") != "five four three two one" {
		t.Fatalf("paging back: %v", seen)
	}
	if p := get("after=" + ids[2]); len(p.Events) != 2 || p.Events[0].ID != ids[3] || p.More {
		t.Fatalf("after %s: %+v", ids[2], p)
	}
	resp, err := http.Get(base + "/topics/chat/history?limit=5000")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("limit=5000: %d, want 400", resp.StatusCode)
	}

	cl, err := sse.NewClient(base+"/topics/chat?rewind=2", nil)
	if err != nil {
		t.Fatal(err)
	}
	events := cl.Events()
	if got := take(t, events, 2); got[0].ID != ids[3] || got[1].ID != ids[4] {
		t.Fatalf("rewind=2: %v", got)
	}
}
