package websocket

import (
	"net"
	"sync"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// batchConn is the hijacked connection as coder/websocket writes to it.
// Between hold and flush, the frames it writes (it flushes one per
// message) are gathered, so that a batch of messages leaves in one write
// system call under one deadline; outside a batch (pings, pongs, close
// frames, answers), each write goes out at once. Every write carries a
// deadline of at most timeout, renewed only when less than half of it is
// left, so that a busy connection does not move its timer on every write.
//
// All methods may be called concurrently: the write loop holds and
// flushes, other goroutines (coder/websocket's pongs, the pinger) write.
type batchConn struct {
	net.Conn
	timeout time.Duration // <= 0: no deadline

	mu       sync.Mutex
	held     bool
	buf      []byte
	deadline time.Time
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.arm()
	return c.Conn.Write(p)
}

// hold starts a batch: writes are gathered until flush. On a nil
// batchConn (a parked connection's, which gathers its frames itself) hold
// and flush do nothing.
func (c *batchConn) hold() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// flush ends a batch: what it gathered goes out in one write.
func (c *batchConn) flush() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	if len(c.buf) == 0 {
		return nil
	}
	c.arm()
	_, err := c.Conn.Write(c.buf)
	c.buf = transport.Idle(c.buf)
	return err
}

// Close writes what a batch holds, then closes the connection:
// coder/websocket closes it once its close frame is written, which may be
// held in a batch.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.held && len(c.buf) > 0 {
		c.arm()
		_, _ = c.Conn.Write(c.buf)
	}
	c.held, c.buf = false, nil
	c.mu.Unlock()
	return c.Conn.Close()
}

// arm renews the write deadline when less than half of timeout is left.
// c.mu is held.
func (c *batchConn) arm() {
	if c.timeout <= 0 {
		return
	}
	if now := time.Now(); c.deadline.Sub(now) < c.timeout/2 {
		c.deadline = now.Add(c.timeout)
		_ = c.Conn.SetWriteDeadline(c.deadline)
	}
}
