package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

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
//  3. the cursor is read under every spelling ([RequestCursor]), and the
//     rewind of a topic without one ([RequestRewind]);
//  4. the subscription is made, and every error becomes one [StatusError]
//     with the same status on every transport ([Refuse], [WriteError]).
//
// The session package's Open composes these for hub topics; publishing
// uses [Topic]. A transport never decides a refusal's status; the
// WebSocket transport sends the refusal of a topic it is asked for after
// the upgrade in a message, the others answer with [WriteError].

// DefaultRetryAfter is the base of the jittered Retry-After of a 503 when
// the transport has no option of its own for it.
const DefaultRetryAfter = 2 * time.Second

// StatusError is an HTTP status with a message, the one error type for it
// in every package: what a hook returns to answer a request with a status
// of its choosing, what a server answers a refusal with, and what a Go
// client returns for an answer it does not retry.
type StatusError struct {
	// Code is the HTTP status.
	Code int
	// Message is the error's text: sent as the JSON body {"message": ...};
	// on a client, the answer's message (or the first 512 bytes of a body
	// that is not such JSON).
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header (in
	// whole seconds, rounded up); on a client, the one received.
	RetryAfter time.Duration
	// Header holds headers to send with the answer (WWW-Authenticate for a
	// 401, say); on a client, the answer's headers.
	Header http.Header
	// Topic names the topic of a multiplexed request that was refused,
	// when one was.
	Topic string
	// Err is the cause; it is not sent.
	Err error
}

// Error returns the message, with the status.
func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Topic != "" {
		return fmt.Sprintf("rxstream: %d %s: topic %s: %s", e.Code, http.StatusText(e.Code), e.Topic, msg)
	}
	return fmt.Sprintf("rxstream: %d %s: %s", e.Code, http.StatusText(e.Code), msg)
}

// Unwrap returns the cause.
func (e *StatusError) Unwrap() error { return e.Err }

// Status returns a *StatusError of code with err's text as the message.
func Status(code int, err error) *StatusError {
	return &StatusError{Code: code, Message: err.Error(), Err: err}
}

// Refuse maps an error met while opening a request to its answer: a
// *StatusError in err's chain as it is; 400 for a malformed cursor or
// topic, a bad rewind or history page; 503 with a Retry-After jittered from retry (see [Jitter]) for
// everything else (the server at capacity, shutting down, or its broker
// down).
func Refuse(err error, retry time.Duration) *StatusError {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, framework.ErrInvalidCursor), errors.Is(err, framework.ErrInvalidTopic),
		errors.Is(err, framework.ErrInvalidRewind), errors.Is(err, framework.ErrInvalidHistory),
		errors.Is(err, framework.ErrInvalidPresence):
		return Status(http.StatusBadRequest, err)
	}
	se = Status(http.StatusServiceUnavailable, err)
	se.RetryAfter = Jitter(retry)
	return se
}

// WriteError answers err as [Refuse] maps it: its status, its headers and
// Retry-After, and the JSON body {"message": ...}. It is how every handler
// of every transport answers a request it does not serve.
func WriteError(w http.ResponseWriter, err error, retry time.Duration) {
	se := Refuse(err, retry)
	h := w.Header()
	for k, v := range se.Header {
		h[k] = v
	}
	if se.RetryAfter > 0 {
		h.Set("Retry-After", RetryAfter(se.RetryAfter))
	}
	msg := se.Message
	if msg == "" {
		msg = http.StatusText(se.Code)
	}
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
		Topic   string `json:"topic,omitempty"`
	}{msg, se.Topic})
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(se.Code)
	_, _ = w.Write(append(body, '\n'))
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
				return "", Status(http.StatusBadRequest, fmt.Errorf(
					"%w: two different cursors, %s=%q and %s=%q", framework.ErrInvalidCursor, name, cut(cursor), n, cut(v)))
			}
		}
	}
	return checkLen(name, cursor, limit)
}

func checkLen(name, cursor string, limit int) (string, error) {
	if len(cursor) > limit {
		return "", Status(http.StatusBadRequest, fmt.Errorf(
			"%w: %s longer than %d bytes", framework.ErrInvalidCursor, name, limit))
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

// Topic returns the topic that name picks from r, once [Check] allows it:
// the one place where a request's topic is read, so that authorization,
// subscription and publishing see the same value.
func Topic(r *http.Request, name func(*http.Request) string, action Action) (string, error) {
	topic := name(r)
	if err := Check(r, topic, action); err != nil {
		return "", err
	}
	return topic, nil
}

// Check returns nil when topic is a valid name and the guard set on r (if
// any, see [WithGuard]) allows action on it.
func Check(r *http.Request, topic string, action Action) error {
	if !framework.ValidTopic(topic) {
		return fmt.Errorf("%w: %q", framework.ErrInvalidTopic, cut(topic))
	}
	if g, _ := r.Context().Value(guardKey{}).(Guard); g != nil {
		if err := g(r, topic, action); err != nil {
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

// Guard decides whether the request r may perform action on topic. A nil
// error allows it; a [*StatusError] is answered as it is; any other error
// is answered 403 with its message.
type Guard func(r *http.Request, topic string, action Action) error

type guardKey struct{}

// WithGuard returns r with g set, so that [Check] (and so [Topic] and the
// session's Open and Add) asks g about every topic of the request before
// it is served. The Endpoint sets it on every request it dispatches to a
// transport's handler.
func WithGuard(r *http.Request, g Guard) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), guardKey{}, g))
}

// Denied is the answer to a guard's refusal err: a *StatusError as it is,
// anything else 403 with its message.
func Denied(err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return se
	}
	return Status(http.StatusForbidden, err)
}

// ReadStatus returns the *StatusError of an answer a client does not
// retry: its status, headers and Retry-After, and the message of its JSON
// body {"message": ...}, or the first 512 bytes of any other body.
func ReadStatus(resp *http.Response) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	se := &StatusError{Code: resp.StatusCode, Header: resp.Header, Message: string(body)}
	var m struct {
		Message string `json:"message"`
		Topic   string `json:"topic"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		se.Message, se.Topic = m.Message, m.Topic
	}
	se.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After")) // seconds or an HTTP date
	return se
}

// Allow asks the guard set on r (if any) whether r may follow a producer's
// stream, which names no topic: it is asked with topic "" and [Subscribe].
// Every transport's Stream handler calls it before the producer runs.
func Allow(r *http.Request) error {
	if g, _ := r.Context().Value(guardKey{}).(Guard); g != nil {
		if err := g(r, "", Subscribe); err != nil {
			return Denied(err)
		}
	}
	return nil
}
