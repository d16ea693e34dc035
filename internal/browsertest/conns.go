package browsertest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
)

// MaxPerOrigin is how many HTTP/1.1 connections Chromium holds to one
// origin (its socket pool's per-group limit). A request past it waits for
// one of them to end; WebSockets have a pool of their own (255 per origin).
const MaxPerOrigin = 6

// Conns counts the connections a browser holds to one test server, so that
// a test can check its page stays within [MaxPerOrigin]: a page that needs
// more over HTTP/1.1 only works when its requests happen to take turns.
// All methods may be called concurrently.
type Conns struct {
	mu       sync.Mutex
	http     map[net.Conn]bool // open, not hijacked
	ws       map[net.Conn]bool // hijacked (WebSockets), until closed
	active   map[net.Conn]bool // serving a request now
	maxHTTP  int
	maxBusy  int
	maxWS    int
	accepted int
	hijacked int
}

// Count makes c count srv's connections. srv must not be started yet; it
// must serve plain HTTP/1.1 (no TLS: the counter keys on the accepted
// connection, which TLS wraps).
func (c *Conns) Count(srv *httptest.Server) {
	c.mu.Lock()
	c.http, c.ws, c.active = map[net.Conn]bool{}, map[net.Conn]bool{}, map[net.Conn]bool{}
	c.mu.Unlock()
	srv.Listener = &countingListener{Listener: srv.Listener, c: c}
	prev := srv.Config.ConnState
	srv.Config.ConnState = func(conn net.Conn, s http.ConnState) {
		c.mu.Lock()
		if s == http.StateActive {
			c.active[conn] = true
			c.maxBusy = max(c.maxBusy, len(c.active))
		} else {
			delete(c.active, conn)
		}
		c.mu.Unlock()
		if s == http.StateHijacked {
			c.mu.Lock()
			if c.http[conn] {
				delete(c.http, conn)
				c.ws[conn] = true
				c.hijacked++
				c.maxWS = max(c.maxWS, len(c.ws))
			}
			c.mu.Unlock()
		}
		if prev != nil {
			prev(conn, s)
		}
	}
}

// Max reports the most connections open at once so far: HTTP ones (which
// [MaxPerOrigin] bounds) and WebSockets. The HTTP count errs high, never
// low: a WebSocket counts as HTTP until its upgrade, and a connection the
// browser closed until the server sees it closed.
func (c *Conns) Max() (http, websocket int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxHTTP, c.maxWS
}

// MaxBusy reports the most HTTP connections serving a request at once so
// far (a WebSocket until its upgrade): what [MaxPerOrigin] really bounds,
// since the browser reuses an idle connection of the origin for its next
// request instead of waiting. [Conns.Max] counts idle ones too.
func (c *Conns) MaxBusy() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxBusy
}

func (c *Conns) busy() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.active)
}

// Accepted reports how many connections the server accepted in all, and how
// many of them became WebSockets.
func (c *Conns) Accepted() (all, websocket int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted, c.hijacked
}

// Open reports the connections open now.
func (c *Conns) Open() (http, websocket int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.http), len(c.ws)
}

func (c *Conns) add(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.http[conn] = true
	c.accepted++
	c.maxHTTP = max(c.maxHTTP, len(c.http))
}

func (c *Conns) remove(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.http, conn)
	delete(c.ws, conn)
}

type countingListener struct {
	net.Listener
	c *Conns
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: conn, c: l.c}
	l.c.add(cc)
	return cc, nil
}

// countedConn leaves the count when it is closed, once: net/http closes a
// connection when it ends, the WebSocket library after a hijack.
type countedConn struct {
	net.Conn
	c    *Conns
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.c.remove(c) })
	return c.Conn.Close()
}
