package websocket

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
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
