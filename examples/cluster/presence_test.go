package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
)

// TestPresenceNodeKilled runs two nodes as processes on one NATS, a user
// connected to each over SSE: both are listed on both nodes; once the
// first node is killed with SIGKILL (no goodbye), its user is gone from
// the second within the presence bound, whose presence stream announces
// the leave.
func TestPresenceNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node processes")
	}
	const ttl = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ns, err := startNATS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.stop()
	slots := []*slot{{natsURL: ns.url, ttl: ttl}, {natsURL: ns.url, ttl: ttl}}
	for _, s := range slots {
		if err := s.start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { s.kill(); <-s.exited }()
	}
	stream := func(u string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v", u, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	watch := stream(slots[1].url + "/topics/room/sse?presence=true")
	leaves := make(chan string, 8)
	go func() {
		d := sse.NewDecoder(watch.Body)
		for {
			ev, err := d.Next()
			if err != nil {
				close(leaves)
				return
			}
			var m framework.Member
			if json.Unmarshal(ev.Data, &m) == nil && ev.Name == framework.EventLeave {
				leaves <- m.User
			}
		}
	}()
	stream(slots[0].url + "/topics/room/sse?user=alice")
	stream(slots[1].url + "/topics/room/sse?user=bob")

	members := func(s *slot) string {
		resp, err := http.Get(s.url + "/topics/room/presence")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var page framework.PresencePage
		json.NewDecoder(resp.Body).Decode(&page)
		var users []string
		for _, m := range page.Members {
			users = append(users, m.User)
		}
		return strings.Join(users, ",") + fmt.Sprintf("+%d", page.Anonymous)
	}
	until := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("not within %v: %s (node 2 lists %s)", d, what, members(slots[1]))
			}
		}
	}
	for _, s := range slots {
		until("alice and bob on "+s.url, 10*time.Second, func() bool { return members(s) == "alice,bob+1" })
	}
	slots[0].kill()
	// Within the bound, PresenceTTL, and 2 s of slack for a loaded machine.
	until("alice gone from node 2", ttl+2*time.Second, func() bool { return members(slots[1]) == "bob+1" })
	select {
	case u := <-leaves:
		if u != "alice" {
			t.Fatalf("leave of %q, want alice", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node 2 announced no leave")
	}
}
