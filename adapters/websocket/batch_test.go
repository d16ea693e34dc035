package websocket

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// countConn counts the writes and deadlines of a real connection.
type countConn struct {
	net.Conn
	writes, deadlines atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *countConn) SetWriteDeadline(t time.Time) error {
	c.deadlines.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

// TestBatchConn checks that a batch leaves in one write, writes outside
// a batch at once, and that the deadline is set once while more than
// half of it is left.
func TestBatchConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	got := make(chan string, 1)
	go func() {
		p, _ := io.ReadAll(b)
		got <- string(p)
	}()
	cc := &countConn{Conn: a}
	bc := &batchConn{Conn: cc, timeout: time.Hour}
	bc.hold()
	for _, s := range []string{"one ", "two ", "three "} {
		if _, err := bc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.writes.Load(); n != 0 {
		t.Fatalf("%d writes during a batch, want 0", n)
	}
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load(); n != 1 {
		t.Fatalf("%d writes for a batch of 3, want 1", n)
	}
	if err := bc.flush(); err != nil { // an empty batch writes nothing
		t.Fatal(err)
	}
	if _, err := bc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if w, d := cc.writes.Load(), cc.deadlines.Load(); w != 2 || d != 1 {
		t.Fatalf("%d writes and %d deadlines, want 2 and 1", w, d)
	}
	a.Close()
	if s := <-got; s != "one two three ping" {
		t.Fatalf("read %q", s)
	}
}

// TestBatchSubprotocol checks that a hub topic's batch is one message
// under BatchSubprotocol, an array of envelopes in order, one message per
// event without it, and that the Go client asks for it and splits it.
func TestBatchSubprotocol(t *testing.T) {
	hub := newHub(t)
	protocols := make(chan string, 3)
	f := newFixture(t, &Options{Hooks: Hooks{Opened: func(c *Conn) { protocols <- c.Subprotocol }}})
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	ctx := context.Background()
	tip, err := hub.Publish(ctx, "news", framework.Event{Data: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		id, err := hub.Publish(ctx, "news", framework.Event{Name: "n", Data: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Resumed from history, the five events are one batch.
	t.Run("batched", func(t *testing.T) {
		c := f.dial("/topics/news/ws?cursor="+tip, &cws.DialOptions{Subprotocols: []string{BatchSubprotocol}})
		if p := c.Subprotocol(); p != BatchSubprotocol {
			t.Fatalf("subprotocol %q", p)
		}
		_, s := read(t, c)
		var envs []transport.Envelope
		if err := json.Unmarshal([]byte(s), &envs); err != nil {
			t.Fatalf("not an array of envelopes: %s", s)
		}
		if len(envs) != 5 {
			t.Fatalf("%d envelopes in the batch, want 5: %s", len(envs), s)
		}
		for i, env := range envs {
			if env.ID != ids[i] || env.Data != strconv.Itoa(i) || env.Event != "n" {
				t.Fatalf("envelope %d: %+v", i, env)
			}
		}
	})
	t.Run("one per message", func(t *testing.T) {
		c := f.dial("/topics/news/ws?cursor="+tip, nil)
		if p := c.Subprotocol(); p != "" {
			t.Fatalf("subprotocol %q", p)
		}
		for i := range 5 {
			if env := envelope(t, c); env.ID != ids[i] || env.Data != strconv.Itoa(i) {
				t.Fatalf("message %d: %+v", i, env)
			}
		}
	})
	t.Run("client", func(t *testing.T) {
		<-protocols
		<-protocols
		c := newClient(t, f.url("/topics/news/ws"), &ClientOptions{Cursor: tip})
		items, _ := observe(t, c.Events(), 5)
		if p := <-protocols; p != BatchSubprotocol {
			t.Fatalf("the client's subprotocol %q", p)
		}
		for i, it := range items {
			ev, ok := it.V.(framework.Event)
			if !ok || ev.ID != ids[i] || string(ev.Data) != strconv.Itoa(i) {
				t.Fatalf("item %d: %+v", i, it)
			}
		}
	})
}

// TestBatchBytes checks that a batch larger than maxBatchBytes is split
// into several messages, none over it but by one envelope, nothing lost.
func TestBatchBytes(t *testing.T) {
	hub := newHub(t)
	f := newFixture(t, nil)
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	ctx := context.Background()
	tip, err := hub.Publish(ctx, "big", framework.Event{Data: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("x", maxBatchBytes/4)
	const n = 10
	for i := range n {
		d := data
		if i == 5 {
			d = strings.Repeat("y", maxBatchBytes+1) // alone in its message
		}
		if _, err := hub.Publish(ctx, "big", framework.Event{Data: []byte(d)}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.dial("/topics/big/ws?cursor="+tip, &cws.DialOptions{Subprotocols: []string{BatchSubprotocol}})
	got, messages := 0, 0
	for got < n {
		_, s := read(t, c)
		var envs []transport.Envelope
		if err := json.Unmarshal([]byte(s), &envs); err != nil {
			t.Fatalf("not an array of envelopes: %.40s", s)
		}
		if len(s) > maxBatchBytes && len(envs) > 1 {
			t.Fatalf("a message of %d envelopes and %d bytes, over %d", len(envs), len(s), maxBatchBytes)
		}
		for _, env := range envs {
			if env.Data != data && len(env.Data) != maxBatchBytes+1 {
				t.Fatalf("envelope %d: %.20s... of %d bytes", got, env.Data, len(env.Data))
			}
			got++
		}
		messages++
	}
	if got != n || messages < 2 {
		t.Fatalf("%d events in %d messages, want %d in several", got, messages, n)
	}
}

// TestBatchConnClose: what a batch holds is written before the connection
// closes (coder/websocket closes it once its close frame is written).
func TestBatchConnClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	got := make(chan string, 1)
	go func() {
		p, _ := io.ReadAll(b)
		got <- string(p)
	}()
	bc := &batchConn{Conn: a, timeout: time.Hour}
	bc.hold()
	if _, err := bc.Write([]byte("close frame")); err != nil {
		t.Fatal(err)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "close frame" {
		t.Fatalf("read %q before the close", s)
	}
}
