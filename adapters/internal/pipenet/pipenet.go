package pipenet

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// ErrClosed is returned by Accept and Dial after Close. It is
// [net.ErrClosed], which http.Server.Serve expects of a closed listener.
var ErrClosed = net.ErrClosed

// Listener is an in-memory [net.Listener]: Dial hands each new connection's
// server end to Accept. The zero value is not usable; call [Listen]. All
// methods may be called concurrently.
type Listener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var _ net.Listener = (*Listener)(nil)

// Listen returns a new Listener.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for and returns the next connection; it fails with
// [ErrClosed] after Close.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	}
}

// Close stops accepting connections; open connections stay open. It is
// idempotent.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr returns a placeholder address whose String is "pipe".
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener; network and address are ignored, so it
// suits http.Transport's DialContext. It waits until Accept takes the
// connection, and fails with ctx's error when ctx ends first, or with
// [ErrClosed] when the listener closes.
func (l *Listener) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	client, server := net.Pipe()
	var err error
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	client.Close()
	server.Close()
	return nil, err
}

// Client returns an HTTP client whose every request goes to the listener,
// whatever the URL's host (use "http://pipe/..."). Close its idle
// connections before the bubble ends.
func (l *Listener) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: l.Dial}}
}

type addr struct{}

func (addr) Network() string { return "pipe" }
func (addr) String() string  { return "pipe" }
