package sse

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

// Errors returned by [AppendEvent] and the [Decoder].
var (
	// ErrInvalidField is wrapped by every [*FieldError].
	ErrInvalidField = errors.New("rxstream: sse: invalid field")
	// ErrNotText reports event data that is not valid UTF-8. An event stream
	// is UTF-8 text, so producers of binary payloads must encode them first
	// (base64, JSON, ...).
	ErrNotText = errors.New("rxstream: sse: data is not valid UTF-8")
	// ErrEventTooLarge is wrapped by the error a [Decoder] returns when a
	// line or an event's data exceeds its MaxEventSize.
	ErrEventTooLarge = errors.New("rxstream: sse: event too large")
)

// FieldError reports an event ID or name that [AppendEvent] cannot write: it
// contains CR, LF or NUL (which would end the field early or, for an ID, make
// the client ignore it) or is not valid UTF-8 (which a client would decode to
// a different string, so an ID would not resume).
type FieldError struct {
	Field string // "id" or "name"
	Value string // the refused value
}

// Error describes the refused field, without its value.
func (e *FieldError) Error() string {
	if !strings.ContainsAny(e.Value, "\r\n\x00") && !utf8.ValidString(e.Value) {
		return "rxstream: sse: event " + e.Field + " is not valid UTF-8"
	}
	return "rxstream: sse: event " + e.Field + " contains CR, LF or NUL"
}

// Unwrap returns [ErrInvalidField].
func (e *FieldError) Unwrap() error { return ErrInvalidField }

// maxRetryMillis is the largest reconnection time, in milliseconds, that is
// still a time.Duration.
const maxRetryMillis = math.MaxInt64 / int64(time.Millisecond)

// AppendEvent appends the wire form of ev to dst and returns the extended
// buffer: an "id" field when ev.ID is not empty, an "event" field when
// ev.Name is not empty, a "retry" field in milliseconds when ev.Retry is
// positive (rounded up to a whole millisecond, at most the largest Duration),
// one "data" field per line of ev.Data, and the blank line that dispatches the
// event. Lines of Data may end in CR, LF or CRLF; a client reads every line
// end as LF. Empty data is still written as one empty "data" field, so the
// event is dispatched with empty data. Every field is written as "name: value"
// with exactly one space, so values that begin with a space survive.
//
// A client keeps the last ID it saw: an event written without an ID is
// reported by a client with the ID of the event before it.
//
// AppendEvent refuses an ID or name that contains CR, LF or NUL, or that is
// not valid UTF-8, with a [*FieldError], and data that is not valid UTF-8 with
// [ErrNotText]: an event stream is UTF-8 text, so binary payloads must be
// encoded (base64, JSON, ...) by the producer. On error dst is returned
// unchanged. AppendEvent does not allocate when dst has room for the event.
func AppendEvent(dst []byte, ev framework.Event) ([]byte, error) {
	if err := checkField("id", ev.ID); err != nil {
		return dst, err
	}
	if err := checkField("name", ev.Name); err != nil {
		return dst, err
	}
	if !utf8.Valid(ev.Data) {
		return dst, ErrNotText
	}

	var num [20]byte
	var retry []byte
	if ev.Retry > 0 {
		ms := int64(ev.Retry / time.Millisecond)
		if ev.Retry%time.Millisecond != 0 && ms < maxRetryMillis {
			ms++
		}
		retry = strconv.AppendInt(num[:0], ms, 10)
	}

	// Size the buffer exactly, so dst grows at most once.
	data := ev.Data
	nLF := bytes.Count(data, []byte{'\n'})
	nCR := bytes.Count(data, []byte{'\r'})
	ends := nLF + nCR
	if nLF > 0 && nCR > 0 {
		ends -= bytes.Count(data, []byte("\r\n"))
	}
	n := len(data) - nLF - nCR + (ends+1)*len("data: \n") + 1
	if ev.ID != "" {
		n += len("id: \n") + len(ev.ID)
	}
	if ev.Name != "" {
		n += len("event: \n") + len(ev.Name)
	}
	if retry != nil {
		n += len("retry: \n") + len(retry)
	}
	dst = slices.Grow(dst, n)

	if ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if ev.Name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Name...)
		dst = append(dst, '\n')
	}
	if retry != nil {
		dst = append(dst, "retry: "...)
		dst = append(dst, retry...)
		dst = append(dst, '\n')
	}
	switch {
	case nCR == 0:
		dst = appendDataLines(dst, data, '\n')
	case nLF == 0:
		dst = appendDataLines(dst, data, '\r')
	default:
		dst = appendDataLinesMixed(dst, data)
	}
	return append(dst, '\n'), nil
}

// checkField refuses a field value that cannot be written as an SSE field.
func checkField(field, v string) error {
	ascii := true
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return &FieldError{Field: field, Value: v}
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(v) {
		return &FieldError{Field: field, Value: v}
	}
	return nil
}

// appendDataLines appends one data field per line of data, whose lines all
// end in eol.
func appendDataLines(dst, data []byte, eol byte) []byte {
	for {
		dst = append(dst, "data: "...)
		i := bytes.IndexByte(data, eol)
		if i < 0 {
			dst = append(dst, data...)
			return append(dst, '\n')
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		data = data[i+1:]
	}
}

// appendDataLinesMixed appends one data field per line of data, whose lines
// end in CR, LF or CRLF. It remembers where the next CR and the next LF are,
// so each byte is scanned once for each even when one kind of line end is
// much rarer than the other.
func appendDataLinesMixed(dst, data []byte) []byte {
	off := 0
	cr, lf := -2, -2 // next CR and LF at or after off; -1 none, -2 not searched
	for {
		if cr != -1 && cr < off {
			cr = indexFrom(data, off, '\r')
		}
		if lf != -1 && lf < off {
			lf = indexFrom(data, off, '\n')
		}
		dst = append(dst, "data: "...)
		end, next := -1, 0
		switch {
		case cr >= 0 && (lf < 0 || cr < lf):
			end, next = cr, cr+1
			if lf == cr+1 {
				next++
			}
		case lf >= 0:
			end, next = lf, lf+1
		}
		if end < 0 {
			dst = append(dst, data[off:]...)
			return append(dst, '\n')
		}
		dst = append(dst, data[off:end]...)
		dst = append(dst, '\n')
		off = next
	}
}

// indexFrom returns the index of the first c in b at or after off, or -1.
func indexFrom(b []byte, off int, c byte) int {
	if i := bytes.IndexByte(b[off:], c); i >= 0 {
		return off + i
	}
	return -1
}

// AppendComment appends text to dst as a comment, which clients ignore, and
// returns the extended buffer: one ": text" line per line of text (lines end
// in CR, LF or CRLF), and ":" alone for an empty line. A comment keeps an
// idle connection alive (a heartbeat) without dispatching an event. Bytes of
// text that are not valid UTF-8 are written as U+FFFD, so the stream stays
// UTF-8. AppendComment does not allocate when dst has room for the comment.
func AppendComment(dst []byte, text string) []byte {
	for {
		i := strings.IndexAny(text, "\r\n")
		line := text
		if i >= 0 {
			line = text[:i]
		}
		if line == "" {
			dst = append(dst, ':', '\n')
		} else {
			dst = append(dst, ": "...)
			dst = appendValidUTF8(dst, line)
			dst = append(dst, '\n')
		}
		if i < 0 {
			return dst
		}
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

// appendValidUTF8 appends s to dst with each invalid byte replaced by U+FFFD.
func appendValidUTF8(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(dst, s...)
	}
	for _, r := range s {
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}
