package adapters

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [PublishOptions].
const (
	DefaultPublishAttempts   = 5
	DefaultPublishTimeout    = 10 * time.Second
	DefaultPublishMinBackoff = 100 * time.Millisecond
	DefaultPublishMaxBackoff = 5 * time.Second
)

// PublishOptions configures [PublishTo]. The zero value means defaults.
type PublishOptions struct {
	// Event is the event's name, sent as the "event" query parameter; ""
	// means the transports' default ("message").
	Event string
	// Key is the publish's idempotency key, sent as the [KeyHeader] of
	// every attempt; "" means a fresh random one for this call (26
	// characters, 130 random bits). Give one of your own to make a
	// publish idempotent beyond one call: the key of the business
	// operation (an order's ID, say), or one kept with the event in a
	// queue that outlives the process.
	Key string
	// HTTPClient makes the requests; nil means a client whose Timeout is
	// [DefaultPublishTimeout] for each attempt.
	HTTPClient *http.Client
	// Header is added to every request (Authorization, say).
	Header http.Header
	// MaxAttempts bounds the attempts, the first included; 0 means
	// [DefaultPublishAttempts].
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the delay before a retry: it starts
	// at MinBackoff, doubles with each failed attempt up to MaxBackoff,
	// is jittered to [d/2, d), and is never shorter than the server's
	// Retry-After. Defaults: [DefaultPublishMinBackoff],
	// [DefaultPublishMaxBackoff].
	MinBackoff, MaxBackoff time.Duration
}

// PublishTo publishes data as one event to the topic served at url (an
// [Endpoint]'s topic URL with [Options.Publish]) and returns its ID. Every
// attempt sends the same idempotency key ([PublishOptions.Key]), so that a
// retry after an answer that was lost (a network error, a timeout, a node
// that stored the event and died before answering) is answered with the
// first attempt's ID and stores nothing.
//
// It retries what may or may not have been published: a network error or
// timeout, a 5xx (a 503 no sooner than its Retry-After), a 408, a 429 (no
// sooner than its Retry-After), or a 2xx whose body is not the answer
// {"id": ...}. Another answer is final and returned as a [*StatusError]:
// a 4xx other than 408 and 429 (400 for bad data or a bad key, 401, 403,
// 413), a 501 (the server's broker cannot keep keys), or a redirect the
// HTTPClient did not follow. After MaxAttempts it returns the last
// attempt's error; when ctx ends, ctx's error and the last attempt's. A
// malformed url, or a Key that [framework.CheckKey] refuses, fails before
// any request.
//
// The server must keep keys for longer than the attempts take: two
// minutes by default on both brokers, and the default five attempts take
// under ten seconds of backoff.
func PublishTo(ctx context.Context, rawURL string, data []byte, opts *PublishOptions) (id string, err error) {
	var o PublishOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("rxstream: publish: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("rxstream: publish: URL scheme %q is not http or https", u.Scheme)
	}
	if o.Event != "" {
		q := u.Query()
		q.Set("event", o.Event)
		u.RawQuery = q.Encode()
	}
	if o.Key == "" {
		o.Key = rand.Text()
	} else if err := framework.CheckKey(o.Key); err != nil {
		return "", fmt.Errorf("rxstream: publish: %w", err)
	}
	if o.MaxAttempts < 0 || o.MinBackoff < 0 || o.MaxBackoff < 0 {
		return "", errors.New("rxstream: publish: negative MaxAttempts, MinBackoff or MaxBackoff")
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultPublishAttempts
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultPublishMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultPublishMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultPublishTimeout}
	}
	var last error
	for attempt := 1; ; attempt++ {
		id, hint, err := publishOnce(ctx, &o, u.String(), data)
		if err == nil {
			return id, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("rxstream: publish: %w (last attempt: %w)", ctx.Err(), err)
		}
		var se *StatusError
		if errors.As(err, &se) && !retried(se.Code) {
			return "", err
		}
		last = err
		if attempt >= o.MaxAttempts {
			return "", fmt.Errorf("rxstream: publish: %d attempts failed, last: %w", attempt, last)
		}
		d := transport.Backoff(attempt, o.MinBackoff, o.MaxBackoff, hint)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			// The next attempt would come after the deadline.
			return "", fmt.Errorf("rxstream: publish: %w before attempt %d (last: %w)", context.DeadlineExceeded, attempt+1, last)
		}
		if !transport.Sleep(ctx, d) {
			return "", fmt.Errorf("rxstream: publish: %w (last attempt: %w)", ctx.Err(), last)
		}
	}
}

// retried reports whether an answer of that status may not have published
// and is retried with the same key.
func retried(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented:
		return false
	case code >= 500:
		return true
	}
	return false
}

// publishOnce makes one attempt: the ID of a 2xx; or the error, with the
// Retry-After of the answer.
func publishOnce(ctx context.Context, o *PublishOptions, u string, data []byte) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return "", 0, fmt.Errorf("rxstream: publish: %w", err)
	}
	for k, v := range o.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set(KeyHeader, o.Key)
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("rxstream: publish: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := transport.ReadStatus(resp)
		return "", se.RetryAfter, se
	}
	var v struct {
		ID string `json:"id"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err == nil {
		err = json.Unmarshal(body, &v)
	}
	if err == nil && v.ID == "" {
		err = errors.New("no id")
	}
	if err != nil {
		// The event may be published: the next attempt, with the same
		// key, learns its ID.
		return "", 0, fmt.Errorf("rxstream: publish: %s answer without {\"id\": ...}: %w", resp.Status, err)
	}
	return v.ID, 0, nil
}
