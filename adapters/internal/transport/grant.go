package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// A hook's answer is an error, so that every hook written before expiry
// existed still compiles; what else it knows (until when its answer holds,
// whose request it is) it tells the request it was asked about, with
// [ExpiresAt] and [SetUser]. A success needs no error type, and a second
// hook type would need a second option on the Endpoint, on Authorize and
// on rxecho.Authorize, with a rule for when both are set.
//
// The front end puts an empty [Grant] on the request's context
// ([Collect]) before it asks the guard, and reads it once the guard has
// answered for every topic: the request's expiry is the earliest the hook
// gave, its user the last one.

// Grant is what the authorization hook said about one request besides
// yes or no: the user it acts for and until when the answers hold. It is
// filled in while the hook runs; its methods may be called concurrently.
type Grant struct {
	mu      sync.Mutex
	user    string
	info    json.RawMessage
	expires time.Time
}

type grantKey struct{}

// Collect returns r with an empty Grant on its context, and the Grant:
// [ExpiresAt] and [SetUser], called by a hook that is given r (or a
// request made from it), fill it in.
func Collect(r *http.Request) (*http.Request, *Grant) {
	g := &Grant{}
	return r.WithContext(context.WithValue(r.Context(), grantKey{}, g)), g
}

func grantOf(r *http.Request) *Grant {
	g, _ := r.Context().Value(grantKey{}).(*Grant)
	return g
}

// ExpiresAt records, from an authorization hook, that its answer about r
// holds until t: the stream, poll or connection r opens ends at t (or at
// the earliest t given for any of its topics), and a request whose hook
// gives a t already past is refused 401. The zero t changes nothing. It
// has no effect on a request that no rxstream handler is serving (a
// publish, a hand-written route).
func ExpiresAt(r *http.Request, t time.Time) {
	g := grantOf(r)
	if g == nil || t.IsZero() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.expires.IsZero() || t.Before(g.expires) {
		g.expires = t
	}
}

// SetUser records, from an authorization hook, the user that r acts for:
// the key of the per-user limits and of revocation. A later call replaces
// it; "" means none (an anonymous request: no per-user limit applies).
func SetUser(r *http.Request, user string) {
	g := grantOf(r)
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.user = user
}

// SetInfo records, from an authorization hook, the presence info of the
// user that r acts for: v as JSON, at most [framework.MaxInfoSize] bytes.
// A v that does not encode, or encodes larger, is an error wrapping
// [framework.ErrInvalidPresence], and records nothing. A later call
// replaces it; nil clears it.
func SetInfo(r *http.Request, v any) error {
	var b json.RawMessage
	if v != nil {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return fmt.Errorf("%w: info: %w", framework.ErrInvalidPresence, err)
		}
		if len(b) > framework.MaxInfoSize {
			return fmt.Errorf("%w: info of %d bytes of JSON, at most %d", framework.ErrInvalidPresence, len(b), framework.MaxInfoSize)
		}
	}
	g := grantOf(r)
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.info = b
	return nil
}

// Member sets, on o, the user and presence info that the hook gave for r
// (none without a user), and returns o.
func Member(r *http.Request, o *framework.SubscribeOptions) *framework.SubscribeOptions {
	if g := grantOf(r); g != nil {
		g.mu.Lock()
		o.User = g.user
		if g.user != "" {
			o.Info = g.info
		}
		g.mu.Unlock()
	}
	return o
}

// User returns the user the hook named, or "".
func (g *Grant) User() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.user
}

// Expires returns the earliest expiry the hook gave, or the zero time.
func (g *Grant) Expires() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.expires
}
