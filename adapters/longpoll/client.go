package longpoll

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Defaults of [ClientOptions].
const (
	DefaultMinBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultRequestTimeout = DefaultTimeout + 15*time.Second
)

// ClientOptions configures a [Client]. The zero value means defaults.
type ClientOptions struct {
	// HTTPClient makes the requests; nil means a client without a timeout
	// (RequestTimeout bounds each request).
	HTTPClient *http.Client
	// Header is added to every request.
	Header http.Header
	// Cursor is the cursor of the first poll; empty starts with the next
	// event.
	Cursor string
	// RequestTimeout bounds each poll; keep it above the server's timeout.
	// 0 means [DefaultRequestTimeout], negative means none.
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before polling again after
	// a failure: it starts at MinBackoff, doubles with each consecutive
	// failure up to MaxBackoff, is jittered to [d/2, d), and is never
	// shorter than the server's Retry-After. Defaults: [DefaultMinBackoff],
	// [DefaultMaxBackoff].
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts ends the observable with an error after that many
	// consecutive failed polls; 0 means never.
	MaxAttempts int
	// Logger receives a line per failed poll; nil means slog.Default().
	Logger *slog.Logger
}

// Client follows a long-poll endpoint: it polls again as soon as an answer
// arrives, carrying the cursor of the last answer, so it receives every
// event once and in order across timeouts, reconnections and server
// restarts (while the server retains them; otherwise it gets a
// [framework.Gap]). It backs off exponentially with jitter on failures and
// honours Retry-After.
type Client struct {
	loop transport.PollClient
}

// NewClient returns a Client for the endpoint at rawURL (which may carry
// query parameters of its own); opts may be nil.
func NewClient(rawURL string, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	c := &Client{loop: transport.PollClient{
		Name:        "longpoll",
		HTTPClient:  o.HTTPClient,
		Header:      o.Header,
		Cursor:      o.Cursor,
		Timeout:     o.RequestTimeout,
		MinBackoff:  o.MinBackoff,
		MaxBackoff:  o.MaxBackoff,
		MaxAttempts: o.MaxAttempts,
		Logger:      o.Logger,
	}}
	if err := c.loop.Setup(rawURL, DefaultRequestTimeout, DefaultMinBackoff, DefaultMaxBackoff); err != nil {
		return nil, err
	}
	return c, nil
}

// Events returns an observable of the endpoint's events: a
// [framework.Event] item per event, a [framework.Gap] item per gap notice.
// Each Observe runs its own poll loop, from [ClientOptions.Cursor], until
// the observer's context (given with rxgo.WithContext) ends; it ends with
// an error item on a [*StatusError] or after MaxAttempts failed polls.
func (c *Client) Events() rxgo.Observable { return c.loop.Observable() }
