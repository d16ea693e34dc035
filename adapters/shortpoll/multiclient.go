package shortpoll

import (
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Subscription is one topic of a [MultiClient]. Topic returns its topic;
// Cursor the cursor it resumes from (the ID of the last item its observer
// took, or where the server placed it); Events its observable of [framework.Event]
// and [framework.Gap] items, which may be observed once and completes when
// the subscription is closed (an error item first when the server refused
// it); Close ends it. The observer's context ending closes it too.
//
// A subscription's items wait for its observer: one that is not observed
// holds up every topic of its client.
type Subscription = transport.Subscription

// Errors of a [MultiClient].
var (
	// ErrSubscribed is returned by [MultiClient.Subscribe] for a topic
	// that the client already follows.
	ErrSubscribed = transport.ErrSubscribed
	// ErrObserved is the error item of a second Observe of a
	// [Subscription]'s events.
	ErrObserved = transport.ErrObserved
)

// MultiClient follows several topics of a [Server.Topics] endpoint with one poll
// loop: every poll asks for all its subscriptions' topics (?topic=a&topic=b)
// and carries the composite cursor of the previous answer, so each topic
// receives its events once and in order across timeouts, reconnections and
// server restarts. Subscribing or closing a subscription ends the poll
// under way and polls again at once for the new set, from each topic's
// last ID: no topic loses or repeats an event. Failures back off as a
// [Client] does.
//
// All methods may be called concurrently. Close releases its goroutine.
type MultiClient struct {
	mux *transport.Mux
}

// NewMultiClient returns a MultiClient for the endpoint at rawURL (without
// topic parameters: they come from [MultiClient.Subscribe]); opts may be
// nil. Its Cursor must be empty: each topic's cursor is given to Subscribe.
func NewMultiClient(rawURL string, opts *ClientOptions) (*MultiClient, error) {
	c, err := NewClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	m, err := c.loop.NewMux()
	if err != nil {
		return nil, err
	}
	return &MultiClient{mux: m}, nil
}

// Subscribe follows topic after cursor (one topic's event ID; empty starts
// with its next event). It fails on an invalid topic or cursor, with
// [ErrSubscribed] for a topic already followed, and with
// [framework.ErrClosed] after Close.
func (c *MultiClient) Subscribe(topic, cursor string) (*Subscription, error) {
	return c.mux.Subscribe(topic, cursor)
}

// Close ends every subscription (their observables complete) and the poll
// loop, and waits for it.
func (c *MultiClient) Close() { c.mux.Close() }
