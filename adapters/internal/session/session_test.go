package session

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// TestAddRemove grows and shrinks a multiplexed session: each Add is
// checked as Open checks a request's topics, and the composite cursor and
// the items follow the current topics in order.
func TestAddRemove(t *testing.T) {
	hub, err := framework.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	publish := func(topic, data string) string {
		t.Helper()
		id, err := hub.Publish(ctx, topic, framework.Event{Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	c1 := publish("c", "c1")
	publish("c", "c2")
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/?topic=a&topic=b", nil), httptest.NewRecorder())
	transport.SetGuard(c, func(_ echo.Context, topic string, _ transport.Action) error {
		if topic == "secret" {
			return errors.New("not yours")
		}
		return nil
	})
	sess, _, err := Open(c, hub, Options{MaxTopics: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	if got, err := sess.Add(c, "c", c1); err != nil || got != c1 {
		t.Fatalf("Add(c, %s) = %q, %v", c1, got, err)
	}
	for _, tt := range []struct {
		name, topic, cursor string
		status              int
	}{
		{"duplicate", "a", "", http.StatusBadRequest},
		{"invalid topic", "bad..name", "", http.StatusBadRequest},
		{"over MaxTopics", "d", "", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sess.Add(c, tt.topic, tt.cursor)
			var r *transport.Refusal
			if !errors.As(err, &r) || r.Status != tt.status {
				t.Fatalf("Add(%s) = %v, want %d", tt.topic, err, tt.status)
			}
		})
	}
	if !sess.Remove("b") || sess.Remove("b") {
		t.Fatal("Remove(b) twice: want true, then false")
	}
	for _, tt := range []struct {
		name, topic, cursor string
		status              int
	}{
		{"refused by the guard", "secret", "", http.StatusForbidden},
		{"invalid cursor", "d", "nope", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sess.Add(c, tt.topic, tt.cursor)
			var r *transport.Refusal
			if !errors.As(err, &r) || r.Status != tt.status {
				t.Fatalf("Add(%s) = %v, want %d", tt.topic, err, tt.status)
			}
		})
	}
	publish("b", "not followed any more")
	a1 := publish("a", "a1")
	var got []string
	for range 10 {
		b, err := sess.Take(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range b.Items {
			got = append(got, it.Topic+":"+string(it.Event.Data))
		}
	}
	slices.Sort(got)
	if want := []string{"a:a1", "c:c2"}; !slices.Equal(got, want) {
		t.Fatalf("took %q, want %q", got, want)
	}
	names, pos := sess.Topics()
	if !slices.Equal(names, []string{"a", "c"}) || pos[0] != a1 {
		t.Fatalf("Topics() = %q %q", names, pos)
	}
	if back, err := parseCursor(sess.Cursor(), 2); err != nil || !slices.Equal(back, pos) {
		t.Fatalf("Cursor() = %q names %q, want %q", sess.Cursor(), back, pos)
	}

	// No topic left: Take has nothing, and a topic added then is read.
	sess.Remove("a")
	sess.Remove("c")
	if b, err := sess.Take(ctx, 10); err != nil || len(b.Items) != 0 {
		t.Fatalf("Take with no topic: %v, %v", b.Items, err)
	}
	if _, err := sess.Add(c, "a", a1); err != nil {
		t.Fatal(err)
	}
	publish("a", "a2")
	if b, err := sess.Take(ctx, 10); err != nil || len(b.Items) != 1 || string(b.Items[0].Event.Data) != "a2" {
		t.Fatalf("Take after Add: %v, %v", b.Items, err)
	}

	sess.Close()
	if _, err := sess.Add(c, "b", ""); err == nil {
		t.Fatal("Add after Close succeeded")
	}
	if n := hub.Topics(); n != 0 {
		t.Fatalf("%d topics followed after Close", n)
	}
}
