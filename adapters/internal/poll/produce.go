package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// Grace is how long [Produce] waits for a cancelled producer to close its
// item channel before it answers anyway (and logs a warning).
const Grace = time.Second

// Policy says when the poll of a producer answers.
type Policy struct {
	// Timeout bounds the wait for a first item; 0 means none.
	Timeout time.Duration
	// Window is how long more items are gathered after the first; 0
	// means the first item is answered at once.
	Window time.Duration
	// Max bounds the events of an answer; 0 means no bound.
	Max int
	// Logger receives the warning about a producer that ignores its
	// context; nil means slog.Default().
	Logger *slog.Logger
}

// Outcome is how the poll of a producer ended.
type Outcome int

const (
	// Answered: b holds the answer: the first items, or nothing when the
	// producer completed without any.
	Answered Outcome = iota + 1
	// TimedOut: no item within Policy.Timeout.
	TimedOut
	// Ended: ctx ended first; b holds what was gathered before.
	Ended
	// Failed: the producer returned an error, or its first item was an
	// error or a value that cannot be sent.
	Failed
)

// errNoObservable is the failure of a producer that returned neither an
// observable nor an error.
var errNoObservable = errors.New("rxstream: producer returned no observable")

// Produce observes the observable p makes for r and gathers its first
// items into b, as pol says. The producer is given r with a context that
// ends with ctx, and when Produce returns: it is cancelled, and waited for
// (up to [Grace]), before Produce returns, so nothing keeps running after
// the answer. cursor is the client's, given to p; b.Cursor moves to the
// ID of each event gathered.
//
// The error is the failure with Failed; with Answered it is an error that
// came after the events b holds (they are answered, the client polls
// again, and does not see it).
//
// Items may be [framework.Event], [framework.Gap] (a gap that follows
// events ends the answer before it), or what [streams.ToEvent] converts
// from a string, a []byte or a json.RawMessage; an error value is an
// error. Anything else is an error naming its type: a poll never guesses
// an encoding.
func Produce(ctx context.Context, r *http.Request, p transport.Producer, cursor string, b *transport.PollAnswer, pol Policy) (Outcome, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs, err := p(r.WithContext(pctx), cursor)
	if err == nil && obs == nil {
		err = errNoObservable
	}
	if err != nil {
		return Failed, err
	}
	items := obs.Observe(rxgo.WithContext(pctx))
	defer stop(cancel, items, pol.Logger, r.URL.Path)

	timeout, stopTimeout := After(pol.Timeout)
	defer stopTimeout()
	var window <-chan time.Time
	for {
		select {
		case it, ok := <-items:
			if !ok {
				return Answered, nil // completed
			}
			full, err := add(b, it, pol.Max)
			switch {
			case err != nil && empty(b):
				return Failed, err
			case err != nil, full:
				return Answered, err
			case empty(b), window != nil:
				continue // a nil *Gap; or more within the window
			case pol.Window <= 0:
				return Answered, nil
			}
			var stopWindow func()
			window, stopWindow = After(pol.Window)
			defer stopWindow()
			timeout = nil
		case <-timeout:
			return TimedOut, nil
		case <-window:
			return Answered, nil
		case <-ctx.Done():
			return Ended, nil
		}
	}
}

// stop cancels the producer and waits for its channel to close.
func stop(cancel func(), items <-chan rxgo.Item, log *slog.Logger, path string) {
	cancel()
	grace := time.NewTimer(Grace)
	defer grace.Stop()
	for {
		select {
		case _, ok := <-items:
			if !ok {
				return
			}
		case <-grace.C:
			if log == nil {
				log = slog.Default()
			}
			log.Warn("rxstream: producer ignores its context", "path", path)
			return
		}
	}
}

// After returns the channel of a timer of d (nil when d is 0 or less: no
// timer) and a function that stops it.
func After(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		return nil, func() {}
	}
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func empty(b *transport.PollAnswer) bool { return b.Len() == 0 && b.Gap == nil }

// add appends one item to b. It reports full when the answer must go now
// (it holds max events, or a gap follows its events: the gap is dropped),
// and the error of an error item or of an item that is no event.
func add(b *transport.PollAnswer, it rxgo.Item, max int) (full bool, err error) {
	if it.E != nil {
		return false, it.E
	}
	switch v := it.V.(type) {
	case framework.Gap:
		return addGap(b, v), nil
	case *framework.Gap:
		if v == nil {
			return false, nil
		}
		return addGap(b, *v), nil
	}
	ev, err := event(it.V)
	if err != nil {
		return false, err
	}
	b.Add("", ev, false)
	if ev.ID != "" {
		b.Cursor = ev.ID
	}
	return max > 0 && b.Len() >= max, nil
}

func addGap(b *transport.PollAnswer, g framework.Gap) bool {
	if !empty(b) {
		return true
	}
	b.Gap = &g
	return false
}

// event converts an item's value as [streams.ToEvent] does, accepting only
// the types it documents as events: any other value is an error naming
// its type, never encoded on a guess.
func event(v any) (framework.Event, error) {
	switch v.(type) {
	case framework.Event, *framework.Event, string, []byte, json.RawMessage, error:
		ev, err := streams.ToEvent(v)
		if err != nil {
			return framework.Event{}, fmt.Errorf("rxstream: item cannot be sent: %w", err)
		}
		return ev, nil
	case nil:
		return framework.Event{}, errors.New("rxstream: item cannot be sent: nil is not an event")
	}
	return framework.Event{}, fmt.Errorf("rxstream: item cannot be sent: a %T is not an event (emit a framework.Event, a string or a []byte)", v)
}

// Failure is the answer to a producer's failure: a [*transport.StatusError]
// in err's chain keeps its status, anything else is a 500 with err's text.
func Failure(err error) *transport.StatusError {
	var se *transport.StatusError
	if errors.As(err, &se) {
		return se
	}
	return transport.Status(http.StatusInternalServerError, err)
}
