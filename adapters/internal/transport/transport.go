// Package transport holds what every rxstream adapter shares: the front end
// that takes a request to a subscription ([Open]: its topic, cursor,
// authorization and refusals, the same on every transport), the registry of
// open streams that a shutdown ends, the JSON envelope and poll answer, and
// the check that a response writer can stream.
package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// ErrShutdown is the cause of a stream context ended by [Registry.Close].
var ErrShutdown = errors.New("rxstream: server shutting down")

// Registry tracks the open streams of one adapter so that Close can end
// them all. The zero Registry is ready to use; all methods may be called
// concurrently.
type Registry struct {
	mu      sync.Mutex
	cancels map[*context.CancelCauseFunc]struct{}
	closed  bool
}

// Open derives a stream context from parent and registers it. It returns
// ok false, and no context, after Close. The caller must call done when the
// stream ends; done cancels the context.
func (r *Registry) Open(parent context.Context) (ctx context.Context, done func(), ok bool) {
	ctx, cancel := context.WithCancelCause(parent)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		cancel(ErrShutdown)
		return nil, nil, false
	}
	if r.cancels == nil {
		r.cancels = make(map[*context.CancelCauseFunc]struct{})
	}
	key := &cancel
	r.cancels[key] = struct{}{}
	return ctx, func() {
		r.mu.Lock()
		delete(r.cancels, key)
		r.mu.Unlock()
		cancel(context.Canceled)
	}, true
}

// Close ends every open stream with cause [ErrShutdown] and refuses new
// ones. It suits http.Server.RegisterOnShutdown.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	cancels := make([]*context.CancelCauseFunc, 0, len(r.cancels))
	for c := range r.cancels {
		cancels = append(cancels, c)
	}
	r.mu.Unlock()
	for _, c := range cancels {
		(*c)(ErrShutdown)
	}
}

// Len returns the number of open streams: those whose done has not been
// called, also after Close ended them.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cancels)
}

// ShuttingDown reports whether ctx was ended by [Registry.Close].
func ShuttingDown(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrShutdown)
}

// Jitter returns a duration in [d, 2d), so that clients told to come back
// after a shutdown do not all come back at once.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}

// IdleBuffer bounds the capacity of an encoding buffer that an idle stream
// keeps; see [Idle].
const IdleBuffer = 1 << 10

// Idle returns b emptied for an idle stream: a burst's buffer (128 events
// of 1 KiB grow it past 130 KiB) is dropped rather than held for the life
// of the connection, a small one kept for the next heartbeat.
func Idle(b []byte) []byte {
	if cap(b) > IdleBuffer {
		return nil
	}
	return b[:0]
}

// CanFlush reports whether w can flush. Writers that wrap another (echo's
// Response, whose Flush panics when it cannot flush, or a middleware's)
// expose it with Unwrap, as http.ResponseController expects; they are
// looked through first.
func CanFlush(w http.ResponseWriter) bool {
	for {
		if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			w = u.Unwrap()
			continue
		}
		switch w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		}
		return false
	}
}

// CanHijack reports whether w itself can hand its connection over
// (http.Hijacker): net/http's writer, echo's Response, a middleware's that
// passes Hijack on. A wrapper that offers only Unwrap is not looked
// through: it may change what is written (count it, hold it), and a
// hijacked stream's writes would bypass it.
func CanHijack(w http.ResponseWriter) bool {
	_, ok := w.(http.Hijacker)
	return ok
}

// Aside runs f on a short-lived goroutine and waits for it; a panic in f
// is raised again in the caller's goroutine, as if f had run there.
//
// A handler that then waits for long (a held long-poll, a WebSocket's
// loops) runs its deep calls aside, so that its own goroutine's stack
// stays small: the runtime never shrinks a stack while a quarter of it is
// in use, and starts new goroutines with the average stack in use (see
// longpoll's BenchmarkParked and the benchmarks' idle scenario).
func Aside(f func()) {
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}
