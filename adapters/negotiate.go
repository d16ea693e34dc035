package adapters

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Transport names one of the transports an [Endpoint] serves.
type Transport int

// The transports, in the browser client's order of preference.
const (
	WebSocket Transport = iota + 1
	SSE
	LongPoll
	ShortPoll
)

var transportNames = [...]string{WebSocket: "websocket", SSE: "sse", LongPoll: "longpoll", ShortPoll: "poll"}

// String returns the transport's name as the transport query parameter
// spells it: "websocket", "sse", "longpoll" or "poll".
func (t Transport) String() string {
	if t < WebSocket || t > ShortPoll {
		return "Transport(" + strconv.Itoa(int(t)) + ")"
	}
	return transportNames[t]
}

// ParseTransport reads a transport name as [Transport.String] writes it.
func ParseTransport(s string) (Transport, bool) {
	for t := WebSocket; t <= ShortPoll; t++ {
		if transportNames[t] == s {
			return t, true
		}
	}
	return 0, false
}

// NegotiationError says why no transport fits a request: Status is 400 for
// a contradictory or unknown request, 406 when the Accept header admits no
// enabled transport.
type NegotiationError struct {
	Status int
	Reason string
}

func (e *NegotiationError) Error() string { return "rxstream: " + e.Reason }

// Negotiate picks the transport for r among the enabled ones:
//
//   - a WebSocket upgrade request gets [WebSocket];
//   - the transport query parameter ("websocket", "sse", "longpoll",
//     "poll") names the transport outright;
//   - otherwise the Accept header decides: text/event-stream is [SSE],
//     application/json is [LongPoll] (short-poll is only had by name), with
//     q-values honoured and ties going to SSE; no Accept header, or */*,
//     gets the first enabled of SSE, long-poll, short-poll.
//
// A request that contradicts itself (an upgrade with another transport
// named, or transport=websocket without an upgrade), names an unknown or
// disabled transport, or accepts none of the enabled ones, gets a
// [*NegotiationError].
func Negotiate(r *http.Request, enabled func(Transport) bool) (Transport, error) {
	upgrade := IsWebSocketUpgrade(r)
	if name := r.URL.Query().Get("transport"); name != "" {
		t, ok := ParseTransport(name)
		switch {
		case !ok:
			return 0, &NegotiationError{http.StatusBadRequest, fmt.Sprintf("unknown transport %q (want websocket, sse, longpoll or poll)", name)}
		case upgrade && t != WebSocket:
			return 0, &NegotiationError{http.StatusBadRequest, "a WebSocket upgrade request names transport " + name}
		case t == WebSocket && !upgrade:
			return 0, &NegotiationError{http.StatusBadRequest, "transport=websocket needs a WebSocket upgrade request"}
		case !enabled(t):
			return 0, &NegotiationError{http.StatusBadRequest, "transport " + name + " is not enabled here"}
		}
		return t, nil
	}
	if upgrade {
		if !enabled(WebSocket) {
			return 0, &NegotiationError{http.StatusBadRequest, "WebSocket is not enabled here"}
		}
		return WebSocket, nil
	}
	ranges := acceptCandidates(r.Header.Values("Accept"))
	best, bestQ := Transport(0), 0.0
	for _, t := range []Transport{SSE, LongPoll, ShortPoll} {
		if q := quality(ranges, t); enabled(t) && q > bestQ {
			best, bestQ = t, q
		}
	}
	if best == 0 {
		return 0, &NegotiationError{http.StatusNotAcceptable, "no enabled transport matches Accept " + strconv.Quote(strings.Join(r.Header.Values("Accept"), ", ")) +
			" (text/event-stream for SSE, application/json for long-poll, or name one with ?transport=)"}
	}
	return best, nil
}

// IsWebSocketUpgrade reports whether r asks to upgrade to WebSocket.
func IsWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

type mediaRange struct {
	typ, sub string
	q        float64
}

// quality is the q-value that ranges give the transport's media type: that
// of the most specific range that matches it (RFC 9110, 12.5.1), 0 when none
// does. Short-poll answers JSON too, but only */* (or its name) picks it, so
// that application/json means long-poll.
func quality(ranges []mediaRange, t Transport) float64 {
	typ, sub := "text", "event-stream"
	switch t {
	case LongPoll:
		typ, sub = "application", "json"
	case ShortPoll:
		typ, sub = "", ""
	}
	q, spec := 0.0, -1
	for _, m := range ranges {
		s := -1
		switch {
		case m.typ == "*" && m.sub == "*":
			s = 0
		case m.typ == typ && m.sub == "*":
			s = 1
		case m.typ == typ && m.sub == sub:
			s = 2
		}
		if s > spec || (s == spec && s >= 0 && m.q > q) {
			q, spec = m.q, s
		}
	}
	return q
}

// acceptCandidates parses Accept header values; none at all means */*.
// Unparsable ranges are skipped.
func acceptCandidates(values []string) []mediaRange {
	if len(values) == 0 {
		return []mediaRange{{"*", "*", 1}}
	}
	var out []mediaRange
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			typ, sub, ok := strings.Cut(mt, "/")
			if !ok || (typ == "*" && sub != "*") {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil || f < 0 || f > 1 {
					continue
				}
				q = f
			}
			out = append(out, mediaRange{typ, sub, q})
		}
	}
	return out
}
