package transport

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

// Envelope is the JSON form of an event on the long-poll, short-poll and
// WebSocket transports: {"id","event","data"}. Data that is UTF-8 text is
// carried as a JSON string; other bytes are carried base64-encoded (standard
// encoding, with padding) and flagged with "base64": true.
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

// GapEnvelope returns the gap notice as an envelope, as SSE carries it: an
// event named "gap" whose data is the [framework.Gap] as JSON.
func GapEnvelope(g framework.Gap) Envelope {
	b, _ := json.Marshal(g)
	return Envelope{Event: "gap", Data: string(b)}
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
