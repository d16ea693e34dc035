package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/reactivex/rxgo/v2"
)

// maxPollBody bounds the body a poll client reads.
const maxPollBody = 64 << 20

// PollClient is the loop shared by the long-poll and short-poll Go clients.
// Its fields are set once, before Run; Run may then be called concurrently.
type PollClient struct {
	Name        string // "longpoll" or "shortpoll", for messages
	URL         *url.URL
	HTTPClient  *http.Client
	Header      http.Header
	Cursor      string        // of the first poll
	Conditional bool          // send If-None-Match with the last ETag
	Interval    time.Duration // pause after an answer that suggests none
	Timeout     time.Duration // of each request; 0 means none
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	MaxAttempts int
	Logger      *slog.Logger
}

// Setup checks the settings a client's options gave p and completes them:
// rawURL must be http or https, nothing may be negative except Timeout
// (negative means none), zero settings take the given defaults, and nil
// HTTPClient and Logger take the standard ones. Errors name p.Name.
func (p *PollClient) Setup(rawURL string, timeout, minBackoff, maxBackoff time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("rxstream: %s: %w", p.Name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("rxstream: %s: URL scheme %q is not http or https", p.Name, u.Scheme)
	}
	if p.MinBackoff < 0 || p.MaxBackoff < 0 || p.MaxAttempts < 0 || p.Interval < 0 {
		return fmt.Errorf("rxstream: %s: negative backoff, MaxAttempts or Interval", p.Name)
	}
	p.URL = u
	p.Header = p.Header.Clone()
	switch {
	case p.Timeout == 0:
		p.Timeout = timeout
	case p.Timeout < 0:
		p.Timeout = 0
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = minBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = maxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.MinBackoff)
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return nil
}

// Observable returns a cold observable that runs the loop once per Observe.
func (p *PollClient) Observable() rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		if err := p.Run(ctx, next); err != nil && ctx.Err() == nil {
			rxgo.Error(err).SendContext(ctx, next)
		}
	}})
}

// pollState is what survives from one poll to the next.
type pollState struct {
	cursor string
	etag   string
	floor  time.Duration // the server's Retry-After of the last failure
}

// errPollStopped ends the loop when the observer stopped reading.
var errPollStopped = errors.New("rxstream: observer stopped")

// Run polls until ctx ends (it then returns nil) or an answer that polling
// again will not fix (a [*StatusError]), or MaxAttempts consecutive
// failures. It sends [framework.Event] and [framework.Gap] values on next.
func (p *PollClient) Run(ctx context.Context, next chan<- rxgo.Item) error {
	st := pollState{cursor: p.Cursor}
	retry := p.retry()
	for {
		pause, err := p.poll(ctx, &st, next)
		if ctx.Err() != nil || errors.Is(err, errPollStopped) {
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) {
			return err
		}
		if err == nil {
			retry.Reset()
			st.floor = 0
		} else {
			if pause, err = p.failed(&retry, &st, err); err != nil {
				return err
			}
		}
		if !Sleep(ctx, pause) {
			return nil
		}
	}
}

func (p *PollClient) retry() Retry {
	return Retry{Name: p.Name, Min: p.MinBackoff, Max: p.MaxBackoff, MaxAttempts: p.MaxAttempts}
}

// failed counts a failed poll, logs it and returns the pause before the
// next one, or the error that ends the loop after MaxAttempts.
func (p *PollClient) failed(r *Retry, st *pollState, err error) (time.Duration, error) {
	pause, gaveUp := r.Failed(err, st.floor)
	if gaveUp != nil {
		return 0, gaveUp
	}
	p.Logger.Info("rxstream: "+p.Name+": polling again", "url", p.URL.Redacted(), "in", pause, "cursor", st.cursor, "err", err)
	return pause, nil
}

// Backoff is the delay before the n-th consecutive retry (n >= 1) of every
// rxstream Go client: lo (or the server's hint, Retry-After or SSE's
// retry, when larger) doubled n-1 times, capped at hi (or the hint),
// jittered to [d/2, d) so that clients do not come back together, and
// never less than the hint.
func Backoff(n int, lo, hi, hint time.Duration) time.Duration {
	d := max(lo, hint)
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, max(hi, hint))
	if d <= 0 {
		return 0
	}
	return max(d/2+rand.N(d-d/2), hint)
}

// answer is what one poll brought: a body when the server answered events
// (200), nil otherwise (a 204, a short-poll's 304), and the pause the
// server suggests before the next poll (a long-poll client, whose Interval
// is 0, polls again at once unless told otherwise).
type answer struct {
	body  *PollBody
	pause time.Duration
}

// fetch makes one request to u after st's cursor and reads its answer; it
// moves st's cursor where the answer carries one in its headers (a
// request without a cursor learns the tip; a 204 its cursor) and keeps the
// ETag. An error is a failure of the request.
func (p *PollClient) fetch(ctx context.Context, u url.URL, st *pollState) (answer, error) {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	if st.cursor != "" {
		q := u.Query()
		q.Set("cursor", st.cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return answer{}, err
	}
	for k, v := range p.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if p.Conditional && st.etag != "" {
		req.Header.Set("If-None-Match", st.etag)
	}
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	if st.cursor == "" {
		// Every answer that carries it holds the cursor the server would
		// continue from: the request's, or the tip when it had none.
		st.cursor = resp.Header.Get(CursorHeader)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusNoContent: // long-poll timeout, or nothing from a producer
		if c := resp.Header.Get(CursorHeader); c != "" {
			st.cursor = c
		}
		return answer{pause: p.suggested(resp.Header)}, nil
	case resp.StatusCode == http.StatusNotModified: // short-poll, nothing new
		return answer{pause: p.suggested(resp.Header)}, nil
	case resp.StatusCode == http.StatusOK && ct == "application/json":
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		st.floor = ParseRetryAfter(resp.Header.Get("Retry-After"))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return answer{}, fmt.Errorf("rxstream: %s: server answered %d", p.Name, resp.StatusCode)
	default:
		return answer{}, ReadStatus(resp)
	}
	var b PollBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPollBody)).Decode(&b); err != nil {
		return answer{}, fmt.Errorf("rxstream: %s: reading answer: %w", p.Name, err)
	}
	st.etag = resp.Header.Get("ETag")
	a := answer{body: &b, pause: p.suggested(resp.Header)}
	if b.Retry != nil {
		a.pause = time.Duration(*b.Retry) * time.Millisecond
	}
	return a, nil
}

// poll makes one request. It returns the pause before the next one, or an
// error when the answer was a failure.
func (p *PollClient) poll(ctx context.Context, st *pollState, next chan<- rxgo.Item) (time.Duration, error) {
	a, err := p.fetch(ctx, *p.URL, st)
	if err != nil || a.body == nil {
		return a.pause, err
	}
	b := a.body
	if b.Gap != nil {
		if !rxgo.Of(*b.Gap).SendContext(ctx, next) {
			return 0, errPollStopped
		}
	}
	for _, env := range b.Events {
		ev, err := env.ToEvent()
		if err != nil {
			return 0, Status(http.StatusOK, err)
		}
		if !rxgo.Of(ev).SendContext(ctx, next) {
			return 0, errPollStopped
		}
	}
	if b.Cursor != "" {
		st.cursor = b.Cursor
	}
	return a.pause, nil
}

// suggested is the pause the server's X-Poll-Interval header asks for, or
// the client's Interval.
func (p *PollClient) suggested(h http.Header) time.Duration {
	if ms, err := strconv.ParseInt(h.Get(IntervalHeader), 10, 64); err == nil && ms >= 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return p.Interval
}

// IntervalHeader is the short-poll's response header with the suggested
// delay, in milliseconds, before the next poll.
const IntervalHeader = "X-Poll-Interval"

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date; 0
// when it is absent or malformed.
func ParseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
