//go:build linux

package park

import (
	"bufio"
	"errors"
	"io"
	"testing"
)

// readTask echoes what its connection reads, a few bytes a run (waking
// itself for the rest, as an edge-triggered poller asks), and closes at
// the end of the stream.
type readTask struct{ eof chan error }

func (t *readTask) Run(c *Conn, why Why) {
	if why&HungUp != 0 {
		t.eof <- errors.New("HungUp on a connection that watches reads")
		c.Close()
		return
	}
	if why&Readable == 0 && why&Woken == 0 {
		return
	}
	var p [3]byte
	n, err := c.Read(p[:])
	switch {
	case err != nil:
		t.eof <- err
		c.Close()
	case n > 0:
		_ = c.Write(p[:n])
		c.Wake() // perhaps more: the poller says nothing until it changes
	}
}

// TestWatchReads: a connection that watches reads is run with Readable as
// its peer writes, reads without waiting, and sees the peer's close as
// io.EOF from Read.
func TestWatchReads(t *testing.T) {
	l := &Loop{}
	task := &readTask{eof: make(chan error, 1)}
	c := l.Hold(task)
	c.WatchReads()
	server, client := pair(t, false)
	defer client.Close()
	if err := c.Park(server); err != nil {
		t.Fatal(err)
	}
	if !c.Watched() {
		t.Fatal("a TCP connection is not watched")
	}
	r := bufio.NewReader(client)
	for _, msg := range []string{"ping\n", "a longer line than a run reads\n"} {
		if _, err := client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != msg {
			t.Fatalf("echoed %q, %v; want %q", line, err, msg)
		}
	}
	_ = client.(interface{ CloseWrite() error }).CloseWrite()
	if err := <-task.eof; err != io.EOF {
		t.Fatalf("Read at the peer's close: %v, want io.EOF", err)
	}
	waitFor(t, "the connection closed", func() bool { return l.Len() == 0 })
}
