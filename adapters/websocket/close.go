package websocket

import (
	"errors"
	"strings"
	"unicode/utf8"

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

// errorStatus is the close status of a stream that ended with err: 1013
// (try again later) for an overflowing subscriber, which resumes from
// history, else 1011 with the error as reason.
func errorStatus(err error) CloseStatus {
	if errors.Is(err, framework.ErrOverflow) {
		return CloseStatus{Code: StatusTryAgainLater, Reason: "subscriber queue overflowed"}
	}
	return CloseStatus{Code: StatusInternalError, Reason: err.Error()}
}
