package adapters_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

// TestRevoke: the Endpoint's Revoke and RevokeTopic end the streams of a
// user, or of a topic, on every transport, each in its own words (SSE a
// "revoked" event naming the topic, WebSocket 4403, a held long-poll 403),
// with the cursor to resume from; Hooks.Closed is told ErrRevoked; other
// users' streams and other topics go on.
func TestRevoke(t *testing.T) {
	for _, tc := range []struct {
		transport string
		user      string // the end after Revoke
		topic     string // the end after RevokeTopic("x")
	}{
		{"sse", "revoked ", "revoked x"},
		{"websocket", "4403", "4403"},
		{"longpoll", "403", "403"},
	} {
		for _, by := range []string{"user", "topic"} {
			t.Run(tc.transport+"/"+by, func(t *testing.T) {
				t.Parallel()
				v := newAuthEnv(t, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				start, _ := v.hub.Publish(ctx, "x", framework.Text("start"))
				end := make(chan error, 1)
				go func() {
					end <- followers[tc.transport](t, ctx, v, mint("alice", time.Now().Add(time.Hour)), start, func(string, string) {})
				}()
				bob := make(chan error, 1) // another user on the same topic, when revoking a user
				admitted := 1
				if by == "user" {
					go func() {
						bob <- followers["sse"](t, ctx, v, mint("bob", time.Now().Add(time.Hour)), "", func(string, string) {})
					}()
					admitted++
				}
				waitAdmitted(t, ctx, v.gate, admitted)

				var n int
				var err error
				want := tc.user
				if by == "user" {
					n, err = v.ep.Revoke(ctx, "alice")
				} else {
					n, err = v.ep.RevokeTopic(ctx, "x")
					want = tc.topic
				}
				if n != 1 || err != nil {
					t.Fatalf("revoked %d: %v", n, err)
				}
				var ee *endError
				if err := <-end; !errors.As(err, &ee) || ee.what != want || ee.cursor != start {
					t.Fatalf("ended with %v, want %s with cursor %s", err, want, start)
				}
				waitAdmitted(t, ctx, v.gate, admitted-1)
				if r := v.reasons(tc.transport); len(r) != 1 || !errors.Is(r[0], adapters.ErrRevoked) {
					t.Fatalf("Hooks.Closed told %v", r)
				}
				v.mu.Lock()
				users := slices.Clone(v.users)
				v.mu.Unlock()
				if !slices.Contains(users, "alice") {
					t.Errorf("Hooks.Opened saw the users %q, want alice among them", users)
				}
				select {
				case err := <-bob:
					t.Fatalf("bob's stream ended: %v", err)
				default:
				}
			})
		}
	}
}

// TestRevokeTopicOfSeveral: a multiplexed WebSocket connection loses the
// revoked topic, told by an error message with status 403, and keeps the
// others.
func TestRevokeTopicOfSeveral(t *testing.T) {
	v := newAuthEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialWS(t, ctx, v, "/topics?topic=x&topic=y", mint("alice", time.Now().Add(time.Hour)))
	var got []string
	if err := readWS(ctx, c, func(m wsMsg) bool { got = append(got, m.Type+" "+m.Topic); return len(got) == 2 }); err != nil {
		t.Fatal(err)
	}
	if n, err := v.gate.RevokeTopic(ctx, "x"); n != 1 || err != nil {
		t.Fatalf("revoked %d: %v", n, err)
	}
	if err := readWS(ctx, c, func(m wsMsg) bool { got = append(got, m.Type+" "+m.Topic+" "+m.Message); return true }); err != nil {
		t.Fatal(err)
	}
	if _, err := v.hub.Publish(ctx, "x", framework.Text("for nobody")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.hub.Publish(ctx, "y", framework.Text("for alice")); err != nil {
		t.Fatal(err)
	}
	if err := readWS(ctx, c, func(m wsMsg) bool { got = append(got, m.Topic+" "+m.Data); return true }); err != nil {
		t.Fatal(err)
	}
	want := []string{"subscribed x", "subscribed y", "error x " + adapters.ErrRevoked.Error(), "y for alice"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if n, _ := v.gate.RevokeTopic(ctx, "x"); n != 0 {
		t.Fatalf("x revoked again reaches %d connections", n)
	}
}

func waitAdmitted(t *testing.T, ctx context.Context, g *adapters.Gate, n int) {
	t.Helper()
	for g.Connections() != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections admitted, want %d", g.Connections(), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
