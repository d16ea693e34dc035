package transport

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// Rewind is what a subscription asks besides its cursor: without a
// cursor, of its topic's history before its live events, the last N
// events, or those of the last Since (a cursor wins over it); and
// whether it gets the topic's join and leave events (Presence). The zero
// Rewind asks none of these.
type Rewind struct {
	N        int
	Since    time.Duration
	Presence bool
}

// Options returns o with the rewind set, for [framework.Hub.SubscribeWith].
func (rw Rewind) Options(o framework.SubscribeOptions) *framework.SubscribeOptions {
	o.Rewind, o.Since, o.Presence = rw.N, rw.Since, rw.Presence
	return &o
}

// The rewind's query parameters.
const (
	rewindQuery   = "rewind"
	sinceQuery    = "since"
	presenceQuery = "presence"
)

// RequestRewind returns the rewind of each of a request's n topics, the
// same on every transport, from its query parameters rewind (a number of
// events, 0 to [framework.MaxRewind]) and since (a duration such as "30s",
// "5m" or "1h30m", 0 to [framework.MaxSince]). Each holds one value for
// every topic, or, for a multiplexed request, a comma-separated list of n
// values in the request's topic order ("10,,5"; an empty one asks none).
// A bad value, a list of another length, a parameter repeated with another
// value, or both parameters for one topic, is a 400 naming the parameter.
// The parameter presence (true or false, 1 or 0) asks every topic's join
// and leave events.
func RequestRewind(r *http.Request, n int) ([]Rewind, error) {
	q := r.URL.Query()
	counts, err := perTopic(q, rewindQuery, n)
	if err != nil {
		return nil, err
	}
	sinces, err := perTopic(q, sinceQuery, n)
	if err != nil {
		return nil, err
	}
	presence, err := RequestPresence(r)
	if err != nil {
		return nil, err
	}
	rw := make([]Rewind, n)
	for i := range rw {
		if rw[i], err = ParseRewind(counts[i], sinces[i]); err != nil {
			return nil, err
		}
		rw[i].Presence = presence
	}
	return rw, nil
}

// RequestPresence reads a request's presence parameter: true, 1, false,
// 0 or absent (false); anything else, or two different values, is a 400
// naming it.
func RequestPresence(r *http.Request) (bool, error) {
	v := ""
	for _, x := range r.URL.Query()[presenceQuery] {
		if v != "" && x != v {
			return false, Status(http.StatusBadRequest, fmt.Errorf("%w: presence given twice, %q and %q", framework.ErrInvalidPresence, cut(v), cut(x)))
		}
		v = x
	}
	switch v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, Status(http.StatusBadRequest, fmt.Errorf("%w: presence=%q: want true or false", framework.ErrInvalidPresence, cut(v)))
}

// perTopic returns the n values of the parameter name, "" for none.
func perTopic(q url.Values, name string, n int) ([]string, error) {
	v := ""
	for _, x := range q[name] {
		switch {
		case x == "" || x == v:
		case v == "":
			v = x
		default:
			return nil, badRewind("%s given twice, %s=%q and %s=%q", name, name, cut(v), name, cut(x))
		}
	}
	out := make([]string, n)
	if v == "" {
		return out, nil
	}
	parts := strings.Split(v, ",")
	switch {
	case len(parts) == 1:
		for i := range out {
			out[i] = v
		}
	case len(parts) != n:
		return nil, badRewind("%s=%q names %d topics, the request %d", name, cut(v), len(parts), n)
	default:
		copy(out, parts)
	}
	return out, nil
}

// ParseRewind reads one topic's rewind as a client sends it: rewind, a
// number of events, and since, a duration; "" for none. A bad value, or
// both, is a 400 naming the parameter.
func ParseRewind(rewind, since string) (Rewind, error) {
	var rw Rewind
	if rewind != "" && since != "" {
		return Rewind{}, badRewind("rewind=%q and since=%q together: ask for one", cut(rewind), cut(since))
	}
	if rewind != "" {
		n, err := strconv.Atoi(rewind)
		switch {
		case err != nil || n < 0:
			return Rewind{}, badRewind("rewind=%q: want a number of events from 0 to %d", cut(rewind), framework.MaxRewind)
		case n > framework.MaxRewind:
			return Rewind{}, badRewind("rewind=%d: at most %d events; cursor=0 replays all that is retained", n, framework.MaxRewind)
		}
		rw.N = n
	}
	if since != "" {
		d, err := time.ParseDuration(since)
		switch {
		case err != nil:
			return Rewind{}, badRewind("since=%q: want a duration such as 30s, 5m or 1h30m", cut(since))
		case d < 0:
			return Rewind{}, badRewind("since=%q is negative", cut(since))
		case d > framework.MaxSince:
			return Rewind{}, badRewind("since=%q: at most %v", cut(since), framework.MaxSince)
		}
		rw.Since = d
	}
	return rw, nil
}

func badRewind(format string, args ...any) error {
	return Status(http.StatusBadRequest, fmt.Errorf("%w: "+format, append([]any{framework.ErrInvalidRewind}, args...)...))
}
