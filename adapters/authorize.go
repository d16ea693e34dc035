package adapters

import (
	"net/http"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Action is what a request wants to do with a topic: [Subscribe] or
// [Publish].
type Action = transport.Action

// The actions an [AuthorizeFunc] decides on.
const (
	Subscribe = transport.Subscribe // follow the topic, on any transport
	Publish   = transport.Publish   // append an event to it
)

// AuthorizeFunc decides whether the request r may perform action on
// topic, before anything streams (for WebSocket, before the upgrade, and
// again for each topic a subscribe message names). A nil error allows it;
// a [*StatusError] is answered as it is (a 401 with a WWW-Authenticate
// header in its Header, say); any other error is answered 403 with its
// message. A producer's stream, which names no topic, asks it with topic
// "".
type AuthorizeFunc func(r *http.Request, topic string, action Action) error

// Authorize returns h with f asked about every topic h serves, on any
// transport, before it is served: the topic a route's name function picks,
// each topic of a multiplexed request and of a WebSocket's subscribe
// messages, and the topic of a publish. f is asked with the very value
// that is then subscribed or published to, so it cannot decide about
// another topic than the one served. It guards the handlers of an
// [Endpoint] (as [Options.Authorize] does) and those of each transport's
// own server.
func Authorize(h http.Handler, f AuthorizeFunc) http.Handler {
	g := transport.Guard(f)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, transport.WithGuard(r, g))
	})
}
