package park

import (
	"io"
	"net"
	"syscall"
)

// A connection that also reads (a WebSocket's, whose peer sends pings and
// close frames) asks the poller for readability before it is parked
// ([Conn.WatchReads]); its Task is then run with [Readable] when the
// socket has something to read or was hung up on, and reads with
// [Conn.Read], which never waits. Readability is reported once per change
// (edge-triggered): a Task that stops reading before Read returned 0 must
// Wake itself to read the rest on its next run.

// WatchReads makes the poller report readability as [Readable] (which
// then also stands for the hang-up: Read sees it). It is called before
// Park.
func (c *Conn) WatchReads() { c.read = true }

// Watched reports whether the poller watches the connection: false for a
// connection without a descriptor, or one the system refused to watch,
// whose reads are never reported.
func (c *Conn) Watched() bool { return c.rc != nil }

// Read reads what the socket holds now into p, without waiting: n is 0
// with a nil error when it holds nothing; io.EOF once the peer closed its
// side. It is called by the Task's Run, on a connection the poller
// watches.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rc == nil {
		return 0, net.ErrClosed
	}
	n, err := readNow(c.rc, p)
	switch {
	case n < 0:
		return 0, err // nothing now
	case err == nil && n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, err
}

// Watchable reports whether the poller can watch nc: a connection with a
// descriptor (a *net.TCPConn, not a wrapped listener's connection).
func Watchable(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	_, err := sc.SyscallConn()
	return err == nil
}
