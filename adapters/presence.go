package adapters

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Presence on every transport.
//
// A subscriber's identity is the user its [AuthorizeFunc] names with
// [SetUser], and the info it gives with [SetInfo]; a request without a
// user is anonymous and only counted. Every subscription of a request is
// a connection of its user to its topic ([framework.Hub.Presence]): an
// SSE stream, a WebSocket (a multiplexed one joins each topic it
// subscribes, and leaves it on unsubscribe), a held long-poll, a
// short-poll for the instant of its request and the interval its answer
// suggests ([shortpoll.Options.Interval]). A poll client is therefore
// present while its requests follow each other within the hub's
// coalescing window ([framework.HubOptions.PresenceWindow], 2 s by
// default) after that: a long-poll client that polls again at once, and
// a short-poll client that waits the suggested interval, join once; one
// that waits longer than the interval plus the window leaves and joins
// again. Between its polls a poll client is listed with conns 0.
//
// The query parameter presence=true, on every transport (and the field
// "presence":true of a WebSocket subscribe message), makes the topics'
// streams also carry their join and leave events: events named "join"
// and "leave" whose data is JSON {"user","info","conns"}, without an ID.
// On SSE they are events of those names with no id field (a multiplexed
// stream's carry its composite cursor unchanged), in poll answers and on
// WebSocket envelopes with "event":"join" or "leave" and no "id" (a
// WebSocket in FormatText or FormatBinary sends their data alone). They
// are live only, not stored and never replayed: a client that resumes
// from its cursor gets the topics' events it missed, but not the joins
// and leaves of its time away, and no gap for them. So a client lists the
// members ([Endpoint.Presence]) after each (re)connection and applies the
// events to that list keyed by user. A poll carries the events that
// happen while it is held only; poll clients list the members instead.

// SetInfo records, from an [AuthorizeFunc], the presence info of the user
// that r acts for ([SetUser]): v as JSON, at most [framework.MaxInfoSize]
// (1 KiB) bytes, listed with the user by [Endpoint.Presence] and carried
// by its join and leave events. A v that does not encode, or encodes
// larger, is an error wrapping [framework.ErrInvalidPresence] and records
// nothing; a hook that returns it refuses the request (403, naming the
// size). Info without a user is ignored. SetInfo has effect only while
// the hook runs, on the request it was given.
func SetInfo(r *http.Request, v any) error { return transport.SetInfo(r, v) }

// Presence returns a handler that answers GET with one page of the
// members of the hub topic that name picks from the request
// ([framework.Hub.Presence]), sorted by user:
//
//	GET /topics/chat/presence                       the first 100 members
//	GET /topics/chat/presence?after=CURSOR&limit=50 the 50 after CURSOR
//
// limit is 1 to [framework.MaxPresenceLimit],
// [framework.DefaultPresenceLimit] when absent. The answer is JSON:
//
//	{"members":[{"user":"ann","info":{..},"conns":2}],"anonymous":3,"cursor":"ann","more":true}
//
// Members is never null; a member whose leave waits for the coalescing
// window is listed with conns 0. Cursor, when more, is the after of the
// next page.
//
// The request takes the front end of the topic's stream: the topic is
// checked and the [Options.Authorize] hook asked about it with
// [Subscribe]. The handler writes every refusal itself, as JSON
// {"message": ...}: 400 for an invalid topic or a limit out of range
// (naming the parameter); the hook's 401 or 403; 503 with a Retry-After
// when the hub closed; 405 for a method other than GET.
//
//	mux.Handle("GET /topics/{topic}/presence", ep.Presence(hub, adapters.Param("topic")))
func (ep *Endpoint) Presence(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	return ep.read(name, func(r *http.Request, topic string) (any, error) {
		o, err := presenceQuery(r)
		if err != nil {
			return nil, err
		}
		return hub.Presence(r.Context(), topic, &o)
	})
}

// presenceQuery reads the page a request asks for: its after and limit
// parameters.
func presenceQuery(r *http.Request) (framework.PresenceOptions, error) {
	q := r.URL.Query()
	o := framework.PresenceOptions{After: q.Get("after")}
	if len(o.After) > framework.MaxUserLen {
		return o, transport.Status(http.StatusBadRequest, fmt.Errorf("%w: after of %d bytes, a user has at most %d", framework.ErrInvalidPresence, len(o.After), framework.MaxUserLen))
	}
	limit := q.Get("limit")
	if limit == "" {
		return o, nil
	}
	var err error
	if o.Limit, err = strconv.Atoi(limit); err != nil || o.Limit < 1 || o.Limit > framework.MaxPresenceLimit {
		return o, transport.Status(http.StatusBadRequest, fmt.Errorf("%w: limit=%q: want 1 to %d (%d when absent)",
			framework.ErrInvalidPresence, cut(limit), framework.MaxPresenceLimit, framework.DefaultPresenceLimit))
	}
	return o, nil
}
