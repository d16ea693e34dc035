package transport

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/framework"
)

// The front end is the one path from a request to a subscription that every
// transport takes, on its own routes and behind the Endpoint, so that a
// contract is written once and cannot drift between transports:
//
//  1. each topic comes from the route's one name function (or, multiplexed,
//     the request's topic parameters) and is checked ([Check]);
//  2. the Endpoint's authorization hook ([SetGuard]) is asked about that
//     same topic;
//  3. the cursor is read under every spelling ([RequestCursor]);
//  4. the subscription is made, and every error becomes one [Refusal]
//     with the same status on every transport ([Refuse]).
//
// The session package's Open composes these for hub topics; publishing
// uses [Topic]. A transport renders a Refusal its own way (long-poll
// through its OnError callback), but never decides its status.

// DefaultRetryAfter is the base of the jittered Retry-After of a 503 when
// the transport has no option of its own for it.
const DefaultRetryAfter = 2 * time.Second

// Refusal is a request the front end does not serve: the status to answer,
// the message, and for a 503 the (already jittered) delay after which the
// client may retry, for the Retry-After header.
type Refusal struct {
	Status int
	Err    error
	Retry  time.Duration
}

func (r *Refusal) Error() string { return r.Err.Error() }

// Unwrap returns the error behind the refusal.
func (r *Refusal) Unwrap() error { return r.Err }

// HTTPError sets the Retry-After header of a 503 on c's response and
// returns the error echo answers. The message is the error's text.
func (r *Refusal) HTTPError(c echo.Context) *echo.HTTPError {
	if r.Status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", RetryAfter(r.Retry))
	}
	var he *echo.HTTPError
	if errors.As(r.Err, &he) {
		return he
	}
	return echo.NewHTTPError(r.Status, r.Err.Error()).SetInternal(r.Err)
}

// Refuse maps an error met while opening a request to its refusal: 400 for
// a malformed cursor or topic, the status of an *echo.HTTPError as it is,
// 503 with a Retry-After jittered from retry (see [Jitter]) for everything
// else (the server at capacity, shutting down, or its broker down).
func Refuse(err error, retry time.Duration) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	var he *echo.HTTPError
	switch {
	case errors.Is(err, framework.ErrInvalidCursor), errors.Is(err, framework.ErrInvalidTopic):
		return &Refusal{Status: http.StatusBadRequest, Err: err}
	case errors.As(err, &he):
		return &Refusal{Status: he.Code, Err: err}
	}
	return &Refusal{Status: http.StatusServiceUnavailable, Err: err, Retry: Jitter(retry)}
}

// The cursor's spellings. Last-Event-ID is the header a native EventSource
// sets on its own reconnection; the query parameters are for clients that
// cannot set headers (an EventSource's first connection, a WebSocket).
const (
	cursorHeader = "Last-Event-ID"
	cursorQuery  = "cursor"
	lastIDQuery  = "lastEventId"
)

// RequestCursor returns the resume cursor of a request, the same on every
// transport: the Last-Event-ID header, else the cursor or lastEventId query
// parameter. The header wins over the query: EventSource sends it on its
// own reconnection to the URL it first opened, so it is always the newer.
// Two different cursors in the query (cursor and lastEventId, or one of
// them repeated) are a 400 naming both, as is a cursor longer than limit
// bytes. "" means the client holds no cursor.
func RequestCursor(r *http.Request, limit int) (string, error) {
	if v := r.Header.Get(cursorHeader); v != "" {
		return checkLen(cursorHeader, v, limit)
	}
	q := r.URL.Query()
	var name, cursor string
	for _, n := range []string{cursorQuery, lastIDQuery} {
		for _, v := range q[n] {
			switch {
			case v == "" || v == cursor:
			case cursor == "":
				name, cursor = n, v
			default:
				return "", &Refusal{Status: http.StatusBadRequest, Err: fmt.Errorf(
					"%w: two different cursors, %s=%q and %s=%q", framework.ErrInvalidCursor, name, cut(cursor), n, cut(v))}
			}
		}
	}
	return checkLen(name, cursor, limit)
}

func checkLen(name, cursor string, limit int) (string, error) {
	if len(cursor) > limit {
		return "", &Refusal{Status: http.StatusBadRequest, Err: fmt.Errorf(
			"%w: %s longer than %d bytes", framework.ErrInvalidCursor, name, limit)}
	}
	return cursor, nil
}

// cut shortens what a client sent for an error message.
func cut(s string) string {
	if len(s) > framework.MaxCursorLen {
		return s[:framework.MaxCursorLen] + "…"
	}
	return s
}

// Topic returns the topic that name picks from c, once [Check] allows it:
// the one place where a request's topic is read, so that authorization,
// subscription and publishing see the same value.
func Topic(c echo.Context, name func(echo.Context) string, action Action) (string, error) {
	topic := name(c)
	if err := Check(c, topic, action); err != nil {
		return "", err
	}
	return topic, nil
}

// Check returns nil when topic is a valid name and the guard set on c (if
// any) allows action on it.
func Check(c echo.Context, topic string, action Action) error {
	if !framework.ValidTopic(topic) {
		return fmt.Errorf("%w: %q", framework.ErrInvalidTopic, cut(topic))
	}
	if g, _ := c.Get(guardKey).(Guard); g != nil {
		if err := g(c, topic, action); err != nil {
			return Denied(err)
		}
	}
	return nil
}

// Action is what a request wants to do with a topic.
type Action int

// The actions a [Guard] decides on.
const (
	Subscribe Action = iota + 1 // follow the topic, on any transport
	Publish                     // append an event to it
)

// String returns "subscribe" or "publish".
func (a Action) String() string {
	switch a {
	case Subscribe:
		return "subscribe"
	case Publish:
		return "publish"
	}
	return "Action(?)"
}

// Guard decides whether the request c may perform action on topic. A nil
// error allows it; an *echo.HTTPError is answered as it is; any other
// error is answered 403 with its message.
type Guard func(c echo.Context, topic string, action Action) error

const guardKey = "rxstream.guard"

// SetGuard makes [Check] (and so [Topic] and the session's Open) ask g about the request c
// before it is served. The Endpoint sets it on every request it dispatches
// to a transport's handler.
func SetGuard(c echo.Context, g Guard) { c.Set(guardKey, g) }

// Denied is the answer to a guard's refusal err: an *echo.HTTPError as it
// is, anything else 403 with its message.
func Denied(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he
	}
	return echo.NewHTTPError(http.StatusForbidden, err.Error()).SetInternal(err)
}
