package websocket

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// MaxCloseReason is the longest close reason a close frame carries, in
// bytes (a control frame's 125 bytes less the status code).
const MaxCloseReason = 123

// closeReason cuts reason to [MaxCloseReason] bytes on a rune boundary, and
// replaces invalid UTF-8, which a close frame must not carry.
func closeReason(reason string) string {
	if !utf8.ValidString(reason) {
		reason = toValidUTF8(reason)
	}
	if len(reason) <= MaxCloseReason {
		return reason
	}
	const ellipsis = "…"
	cut := MaxCloseReason - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + ellipsis
}

// reasonWithCursor prefixes reason with the cursor to resume from, as
// "cursor=ID; reason": first, so that cutting a long reason keeps it.
func reasonWithCursor(cursor, reason string) string {
	if cursor == "" {
		return reason
	}
	return "cursor=" + cursor + "; " + reason
}

// ReasonCursor returns the cursor that a close reason of a hub topic's
// connection carries ("cursor=ID; ..."), or "". A client that has seen no
// event yet resumes from it rather than from the live tip, so that the
// events published while it reconnects are not lost to it.
func ReasonCursor(reason string) string {
	rest, ok := strings.CutPrefix(reason, "cursor=")
	if !ok {
		return ""
	}
	cursor, _, _ := strings.Cut(rest, ";")
	if _, _, err := framework.ParseCursor(cursor); err != nil {
		return ""
	}
	return cursor
}

func toValidUTF8(s string) string {
	b := make([]byte, 0, len(s))
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n <= 1 {
			b = append(b, '?')
		} else {
			b = append(b, s[:n]...)
		}
		s = s[n:]
	}
	return string(b)
}

// endError is a reason of [Hooks.Closed] that the connection itself
// made, rather than the outbound observable: the close frame the server
// sent for it, or, when gone, the peer that closed or vanished (an
// ErrClientGone). Producers cannot make one, so that [CloseCode] tells
// them apart.
type endError struct {
	code StatusCode // sent; for gone, the peer's or StatusAbnormalClosure
	text string     // the close frame's reason, as sent (before any cursor)
	gone bool
	err  error // the cause
}

func (e *endError) Error() string {
	if e.gone {
		return ErrClientGone.Error() + ": " + e.err.Error()
	}
	return e.err.Error()
}

func (e *endError) Unwrap() error { return e.err }

// Is makes a peer's end an ErrClientGone.
func (e *endError) Is(target error) bool { return e.gone && target == ErrClientGone }

// gone is the reason of a connection that the peer closed (err holds its
// CloseError) or that ended without a closing handshake.
func gone(err error) *endError {
	e := &endError{code: StatusAbnormalClosure, gone: true, err: err}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		e.code = ce.Code
	}
	return e
}

// closed reports whether the peer's close frame ended the connection.
func (e *endError) closed() bool {
	var ce websocket.CloseError
	return e.gone && errors.As(e.err, &ce)
}

// CloseCode returns the close code of a connection that ended with
// reason, as [Hooks.Closed] is told: the code the peer sent when it
// closed first (reason is then an [ErrClientGone]);
// [StatusAbnormalClosure] when the connection ended without a closing
// handshake; else the code the server sent: 1000 for [ErrCompleted], 1001
// for [ErrShutdown] and a hub that closed, 1009 for an inbound message
// over the read limit, 1013 for [framework.ErrOverflow], [StatusExpired]
// (4401) for [ErrExpired], [StatusRevoked] (4403) for [ErrRevoked], 1011
// for any other error.
func CloseCode(reason error) StatusCode {
	code, _ := closeFrame(reason)
	return code
}

// closeFrame is the close frame the server sends for why: the one place
// that maps a connection's end to its code and reason.
func closeFrame(why error) (StatusCode, string) {
	var e *endError
	switch {
	case why == nil || why == ErrCompleted:
		return StatusNormalClosure, ""
	case why == ErrShutdown:
		return StatusGoingAway, "server shutting down"
	case errors.Is(why, ErrExpired):
		return StatusExpired, "authorization expired"
	case errors.Is(why, ErrRevoked):
		if t := transport.RevokedTopic(why); t != "" {
			return StatusRevoked, "authorization revoked: topic " + t
		}
		return StatusRevoked, "authorization revoked"
	case errors.As(why, &e):
		return e.code, e.text
	case errors.Is(why, framework.ErrOverflow):
		return StatusTryAgainLater, "subscriber queue overflowed"
	}
	return StatusInternalError, why.Error()
}
