package adapters

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// historyBody is the JSON answer of [Endpoint.History].
type historyBody struct {
	Events    []transport.Envelope `json:"events"`
	Cursor    string               `json:"cursor"`
	More      bool                 `json:"more"`
	Truncated bool                 `json:"truncated,omitempty"`
	Gap       *framework.Gap       `json:"gap,omitempty"`
}

// History returns a handler that answers GET with one page of the
// retained history of the hub topic that name picks from the request,
// without subscribing: the history API of a chat that pages back through
// older messages, beside the topic's stream ([framework.Hub.History]).
//
//	GET /topics/chat/history?limit=50                 the newest 50, newest first
//	GET /topics/chat/history?before=CURSOR&limit=50   the 50 before CURSOR, newest first
//	GET /topics/chat/history?after=CURSOR&limit=50    the 50 after CURSOR, oldest first (after=0: from the oldest retained)
//
// A page reads back from the newest event when the request names no
// cursor. limit is 1 to [framework.MaxHistoryLimit],
// [framework.DefaultHistoryLimit] when absent. The answer is JSON:
//
//	{"events":[{"id":..,"event":..,"data":..}],"cursor":..,"more":..,"truncated":..,"gap":{"last":..,"next":..}}
//
// Events are envelopes as in poll answers, never null: newest first for a
// page read before a cursor, oldest first for one read after. Cursor is
// where the next page in the same direction starts: send it as before (or
// after) again. More says that retained events lie beyond the page in its
// direction. Truncated (before) says that the page reaches the start of
// the retained history and that older events were published and then
// discarded by the history limits, so that a chat can say "older messages
// are no longer available"; More and Truncated both false is the topic's
// first event. Gap (after) says, as in a poll answer, that events after
// the cursor were discarded before the first one here. A cursor of an
// earlier epoch (the broker restarted) gets, before it, an empty page
// that is Truncated; after it, a Gap and the oldest retained events.
//
// The request takes the front end of the topic's stream: the topic is
// checked and the [Options.Authorize] hook asked about it with
// [Subscribe]. The handler writes every refusal itself, as JSON
// {"message": ...}: 400 for an invalid topic, a malformed cursor, before
// and after together, or a limit out of range (naming the parameter); the
// hook's 401 or 403; 503 with a Retry-After when the broker is down or the
// hub closed; 405 for a method other than GET.
//
//	mux.Handle("GET /topics/{topic}/history", ep.History(hub, adapters.Param("topic")))
func (ep *Endpoint) History(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	return ep.read(name, func(r *http.Request, topic string) (any, error) {
		o, err := historyQuery(r)
		if err != nil {
			return nil, err
		}
		page, err := hub.History(r.Context(), topic, &o)
		if err != nil {
			return nil, err
		}
		body := historyBody{Events: make([]transport.Envelope, 0, len(page.Events)), Cursor: page.Cursor,
			More: page.More, Truncated: page.Truncated, Gap: page.Gap}
		for _, ev := range page.Events {
			body.Events = append(body.Events, transport.NewEnvelope(ev))
		}
		return body, nil
	})
}

// read returns a handler that answers GET with the JSON of what page
// reads about the topic that name picks, the topic taken as its stream's
// front end takes it (checked, the hook asked with [Subscribe]): the
// shape of [Endpoint.History] and [Endpoint.Presence]. Every refusal is
// written as JSON {"message": ...}, with a Retry-After on a 503.
func (ep *Endpoint) read(name func(*http.Request) string, page func(r *http.Request, topic string) (any, error)) http.Handler {
	return ep.guarded(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			notAllowed(w, "GET")
			return
		}
		topic, err := transport.Topic(r, name, Subscribe)
		var body any
		if err == nil {
			body, err = page(r, topic)
		}
		var b []byte
		if err == nil {
			if b, err = json.Marshal(body); err != nil { // strings, numbers and JSON the hub checked
				err = transport.Status(http.StatusInternalServerError, err)
			}
		}
		if err != nil {
			transport.WriteError(w, err, transport.DefaultRetryAfter)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(append(b, '\n'))
	}))
}

// historyQuery reads the page a request asks for: its before, after and
// limit parameters, each at most once (or repeated with the same value).
func historyQuery(r *http.Request) (framework.HistoryOptions, error) {
	q := r.URL.Query()
	bad := func(format string, args ...any) error {
		return transport.Status(http.StatusBadRequest, fmt.Errorf("%w: "+format, append([]any{framework.ErrInvalidHistory}, args...)...))
	}
	one := func(name string) (string, error) {
		v := ""
		for _, x := range q[name] {
			if x != "" && v != "" && x != v {
				return "", bad("%s given twice, %s=%q and %s=%q", name, name, cut(v), name, cut(x))
			}
			if x != "" {
				v = x
			}
		}
		return v, nil
	}
	var o framework.HistoryOptions
	var err error
	if o.Before, err = one("before"); err != nil {
		return o, err
	}
	if o.After, err = one("after"); err != nil {
		return o, err
	}
	if o.Before != "" && o.After != "" {
		return o, bad("before=%q and after=%q together: page one way", cut(o.Before), cut(o.After))
	}
	limit, err := one("limit")
	if err != nil || limit == "" {
		return o, err
	}
	if o.Limit, err = strconv.Atoi(limit); err != nil || o.Limit < 1 || o.Limit > framework.MaxHistoryLimit {
		return o, bad("limit=%q: want 1 to %d (%d when absent)", cut(limit), framework.MaxHistoryLimit, framework.DefaultHistoryLimit)
	}
	return o, nil
}

// cut shortens what a client sent for an error message.
func cut(s string) string {
	if len(s) > framework.MaxCursorLen {
		return s[:framework.MaxCursorLen] + "…"
	}
	return s
}
