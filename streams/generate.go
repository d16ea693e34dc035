package streams

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/reactivex/rxgo/v2"
)

// ErrEmitAfterReturn is returned by the emit function that [Generate] hands
// to its fn when it is called after fn has returned.
var ErrEmitAfterReturn = errors.New("rxstream: streams: emit called after the generator returned")

// PanicError is the error item emitted when a user function run by
// [Generate], [Map], [TryMap] or [MapJSON] panics. The panic is recovered so that it ends only
// the stream, not the process.
type PanicError struct {
	// Value is the value the function panicked with.
	Value any
	// Stack is the stack trace of the panicking goroutine, as formatted by
	// [debug.Stack].
	Stack []byte
}

// Error returns a message naming the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("rxstream: streams: panic: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Generate returns a cold observable whose items are the values of type T
// that fn emits. Each call to Observe runs fn once, in the observation's
// producer goroutine, with the context given to Observe with
// [rxgo.WithContext]. T is inferred from fn:
//
//	streams.Generate(func(ctx context.Context, emit func(string) error) error {
//		return emit("hello")
//	})
//
// A [Map] over the result takes a func(T) U; emit strings, []byte or
// [framework.Event] values (or use T = any for a mix of them) to send the
// items to a transport as they are.
//
// fn sends a value with emit, which blocks until the consumer takes it or the
// context is done; in the latter case emit returns the context's error and fn
// should return. emit may be called from several goroutines while fn runs;
// called after fn has returned, it returns [ErrEmitAfterReturn] and sends
// nothing.
//
// When fn returns nil the observable completes. When it returns an error,
// that error is emitted as an error item before completion, unless the
// context is done (the consumer has gone). A panic in fn is recovered and
// emitted as an error item of type [*PanicError].
//
// Generate panics if fn is nil.
func Generate[T any](fn func(ctx context.Context, emit func(v T) error) error) rxgo.Observable {
	if fn == nil {
		panic("rxstream: streams: Generate with nil fn")
	}
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		// mu serialises emits and makes the return of fn wait for an emit in
		// progress, so that no emit sends on next after Defer has closed it.
		var (
			mu       sync.Mutex
			returned bool
		)
		emit := func(v T) error {
			mu.Lock()
			defer mu.Unlock()
			if returned {
				return ErrEmitAfterReturn
			}
			if !rxgo.Of(v).SendContext(ctx, next) {
				return ctx.Err()
			}
			return nil
		}
		err := protect(func() error { return fn(ctx, emit) })
		mu.Lock()
		returned = true
		mu.Unlock()
		if err != nil && ctx.Err() == nil {
			rxgo.Error(err).SendContext(ctx, next)
		}
	}})
}

// protect calls f and turns a panic in it into a [*PanicError].
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return f()
}
