package transport

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

// Envelope is the JSON form of an event on the long-poll, short-poll and
// WebSocket transports: {"id","event","data"}. Data that is UTF-8 text is
// carried as a JSON string; other bytes are carried base64-encoded (standard
// encoding, with padding) and flagged with "base64": true. Servers encode
// it with [AppendEnvelope], a hub event's through its shared encoding
// ([OwnEnvelope], [MuxEnvelope]); clients decode it into this type.
type Envelope struct {
	Topic  string `json:"topic,omitempty"` // on a multiplexed connection
	ID     string `json:"id,omitempty"`
	Event  string `json:"event,omitempty"`
	Data   string `json:"data"`
	Base64 bool   `json:"base64,omitempty"`
	Retry  int64  `json:"retry,omitempty"` // milliseconds
}

// NewEnvelope returns the envelope of ev.
func NewEnvelope(ev framework.Event) Envelope {
	e := Envelope{ID: ev.ID, Event: ev.Name, Retry: ev.Retry.Milliseconds()}
	if utf8.Valid(ev.Data) {
		e.Data = string(ev.Data)
	} else {
		e.Data, e.Base64 = base64.StdEncoding.EncodeToString(ev.Data), true
	}
	return e
}

// ToEvent decodes an envelope back into an event.
func (e Envelope) ToEvent() (framework.Event, error) {
	ev := framework.Event{ID: e.ID, Name: e.Event, Retry: time.Duration(e.Retry) * time.Millisecond}
	if e.Base64 {
		b, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			return framework.Event{}, fmt.Errorf("rxstream: envelope data: %w", err)
		}
		ev.Data = b
	} else {
		ev.Data = []byte(e.Data)
	}
	return ev, nil
}

// OwnEnvelope and MuxEnvelope are the shared encodings of hub events (see
// [framework.Event.AppendEncoded]): the envelope of a topic's own
// connection, and the one of a multiplexed connection, which names the
// topic.
var (
	OwnEnvelope = framework.NewEncoding(func(dst []byte, _ string, ev framework.Event) []byte {
		return AppendEnvelope(dst, "", ev)
	})
	MuxEnvelope = framework.NewEncoding(AppendEnvelope)
)

// AppendEnvelope appends the JSON envelope of ev ({"id","event","data"},
// as [NewEnvelope] makes it), led by "topic" when topic is not
// empty, without reflection or allocation.
func AppendEnvelope(b []byte, topic string, ev framework.Event) []byte {
	b = append(b, '{')
	if topic != "" {
		b = append(b, `"topic":`...)
		b = AppendJSONString(b, ValidUTF8(topic))
		b = append(b, ',')
	}
	if ev.ID != "" {
		b = append(b, `"id":`...)
		b = AppendJSONString(b, ValidUTF8(ev.ID))
		b = append(b, ',')
	}
	if ev.Name != "" {
		b = append(b, `"event":`...)
		b = AppendJSONString(b, ValidUTF8(ev.Name))
		b = append(b, ',')
	}
	b = append(b, `"data":`...)
	if utf8.Valid(ev.Data) {
		b = AppendJSONString(b, ev.Data)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, ev.Data)
		b = append(b, `","base64":true`...)
	}
	if ms := ev.Retry.Milliseconds(); ms != 0 {
		b = append(b, `,"retry":`...)
		b = strconv.AppendInt(b, ms, 10)
	}
	return append(b, '}')
}

// AppendGap appends the gap notice as an envelope, as SSE carries it: an
// event named "gap" whose data is the [framework.Gap] as JSON, with topic
// and id when given.
func AppendGap(b []byte, topic string, g framework.Gap, id string) []byte {
	// {"last":..,"next":..} as data: cursors are ASCII, but escape anyway.
	var inner [2 * (framework.MaxCursorLen + 8)]byte
	d := append(inner[:0], `{"last":`...)
	d = AppendJSONString(d, ValidUTF8(g.Last))
	d = append(d, `,"next":`...)
	d = AppendJSONString(d, ValidUTF8(g.Next))
	d = append(d, '}')
	return AppendEnvelope(b, topic, framework.Event{ID: id, Name: "gap", Data: d})
}

// ValidUTF8 returns s with ill-formed UTF-8 replaced by U+FFFD.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s, valid UTF-8, as a JSON string. It escapes
// what JSON requires, and U+2028 and U+2029 as encoding/json does.
func AppendJSONString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x20 && c != '"' && c != '\\' && c != 0xE2:
			continue
		case c == 0xE2:
			// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
			if i+2 >= len(s) || s[i+1] != 0x80 || s[i+2]&^1 != 0xA8 {
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[s[i+2]&1+8])
			i += 2
			start = i + 1
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
