package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/framework"

	rxws "github.com/rxstream/rxstream/adapters/websocket"
)

// wsMsg is any frame of these tests: an envelope or a control message.
type wsMsg struct {
	Type, Topic, ID, Data, Cursor, Expires, Message string
	Status                                          int
}

func dialWS(t *testing.T, ctx context.Context, v *authEnv, path, token string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(v.url, "http") + path
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: map[string][]string{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// refresh sends a refresh message; an error shows in the next read.
func refresh(ctx context.Context, c *websocket.Conn, token string) {
	msg, _ := json.Marshal(map[string]string{"type": "refresh", "token": token})
	_ = c.Write(ctx, websocket.MessageText, msg)
}

// readWS reads frames into got until stop says so, or the connection
// ends (the error).
func readWS(ctx context.Context, c *websocket.Conn, got func(wsMsg) (stop bool)) error {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		if got(m) {
			return nil
		}
	}
}

func closeCode(err error) websocket.StatusCode {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// TestWebSocketRefresh: a refresh before the expiry keeps the connection
// open past it, and loses nothing; a refresh that no longer grants a
// topic ends that topic's subscription (the whole connection, for a
// single topic), and one the hook refuses with 401 closes it as an expiry
// would.
func TestWebSocketRefresh(t *testing.T) {
	t.Run("single topic", func(t *testing.T) {
		t.Parallel()
		v := newAuthEnv(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start, _ := v.hub.Publish(ctx, "x", framework.Text("start"))
		exp := time.Now().Add(time.Second)
		pub := publish(t, v.hub, "x", nil)
		c := dialWS(t, ctx, v, "/rooms/x?cursor="+start, mint("alice", exp))
		time.AfterFunc(500*time.Millisecond, func() { refresh(ctx, c, mint("alice", exp.Add(time.Hour))) })
		stopAt := exp.Add(700 * time.Millisecond) // well past the first expiry
		time.AfterFunc(time.Until(stopAt), func() { pub.finish() })
		var got []string
		var refreshed string
		err := readWS(ctx, c, func(m wsMsg) bool {
			if m.Type == "refreshed" {
				refreshed = m.Expires
				return false
			}
			got = append(got, m.ID)
			return m.Data == "last"
		})
		if err != nil {
			t.Fatalf("the connection ended: %v", err)
		}
		if time.Now().Before(stopAt) {
			t.Fatal("the last event came before the time to stop")
		}
		if want := exp.Add(time.Hour).UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano); refreshed != want {
			t.Errorf("refreshed until %q, want %q", refreshed, want)
		}
		if want := pub.finish(); !slices.Equal(got, want) {
			t.Fatalf("received %d events, published %d: lost or repeated", len(got), len(want))
		}
		if r := v.reasons("websocket"); len(r) != 0 {
			t.Fatalf("closed: %v", r)
		}

		refresh(ctx, c, mint("alice", exp.Add(time.Hour), "y")) // no longer grants x
		err = readWS(ctx, c, func(wsMsg) bool { return false })
		if closeCode(err) != rxws.StatusRevoked || !strings.HasPrefix(closeReasonOf(err), "cursor="+got[len(got)-1]+"; ") {
			t.Fatalf("after a refresh without x: %v", err)
		}
	})

	t.Run("several topics", func(t *testing.T) {
		t.Parallel()
		v := newAuthEnv(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		exp := time.Now().Add(time.Hour)
		c := dialWS(t, ctx, v, "/topics?topic=a&topic=b", mint("alice", exp, "a", "b"))
		var subscribed []string
		if err := readWS(ctx, c, func(m wsMsg) bool {
			subscribed = append(subscribed, m.Type+" "+m.Topic)
			return len(subscribed) == 2
		}); err != nil || !slices.Equal(subscribed, []string{"subscribed a", "subscribed b"}) {
			t.Fatalf("%v: %v", subscribed, err)
		}
		pubA, pubB := publish(t, v.hub, "a", nil), publish(t, v.hub, "b", nil)
		time.AfterFunc(300*time.Millisecond, func() { refresh(ctx, c, mint("alice", exp, "a")) })
		time.AfterFunc(900*time.Millisecond, func() { pubA.finish(); pubB.finish() })
		got := map[string][]string{}
		var ended, refreshed bool
		err := readWS(ctx, c, func(m wsMsg) bool {
			switch {
			case m.Type == "error" && m.Topic == "b" && m.Status == 403:
				ended = true
			case m.Type == "refreshed":
				refreshed = true
			case m.Type != "":
				t.Errorf("unexpected %+v", m)
			case m.Topic == "b" && ended:
				t.Errorf("an event of b after its end: %+v", m)
			default:
				got[m.Topic] = append(got[m.Topic], m.ID)
			}
			return m.Topic == "a" && m.Data == "last"
		})
		if err != nil || !ended || !refreshed {
			t.Fatalf("ended %v, refreshed %v: %v", ended, refreshed, err)
		}
		if want := pubA.finish(); !slices.Equal(got["a"], want) {
			t.Fatalf("a: received %d events, published %d", len(got["a"]), len(want))
		}
		if b := pubB.finish(); len(got["b"]) == 0 || len(got["b"]) >= len(b) || !slices.Equal(got["b"], b[:len(got["b"])]) {
			t.Fatalf("b: received %d of %d events, want a prefix in order", len(got["b"]), len(b))
		}

		refresh(ctx, c, "garbage") // the hook answers 401
		if err := readWS(ctx, c, func(wsMsg) bool { return false }); closeCode(err) != rxws.StatusExpired {
			t.Fatalf("after a refused refresh: %v", err)
		}
	})
}

func closeReasonOf(err error) string {
	var ce websocket.CloseError
	errors.As(err, &ce)
	return ce.Reason
}
