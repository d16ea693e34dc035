package websocket

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// A multiplexed connection ([Server.Topics]) also carries control
// messages, JSON in text frames:
//
//	client: {"type":"subscribe","topic":"x","cursor":"E-3"}  (cursor optional)
//	        {"type":"subscribe","topic":"x","rewind":10}      (or "since":"30s"; without a cursor)
//	        {"type":"subscribe","topic":"x","presence":true}  (x's join and leave events too)
//	        {"type":"unsubscribe","topic":"x"}
//	        {"type":"refresh","token":"<a new token>"}
//	server: {"type":"subscribed","topic":"x","cursor":"<where x starts>"}
//	        {"type":"unsubscribed","topic":"x"}
//	        {"type":"refreshed","expires":"2026-05-01T12:00:00Z"}  (expires omitted: none)
//	        {"type":"error","topic":"x","status":403,"message":"..."}
//	        {"type":"error","status":400,"message":"..."}  (a malformed message)
//
// A single-topic connection ([Server.Topic]) and a producer's
// ([Server.Stream]) take the refresh message too, and ignore every other
// message; they answer refreshed when their events are envelopes
// ([FormatEnvelope]), which never have a "type".
//
// The read loop parses what the client sends and hands it to the write
// loop, which alone drives the session, through cn.ctl.

// controlQueue is how many parsed control messages wait for the write loop,
// which takes one between two batches of events: a client's burst of
// subscribe messages is read while a batch is written. Past it the read
// loop waits, and so the client (TCP backpressure).
const controlQueue = 4

// The types of the control messages.
const (
	typeSubscribe    = "subscribe"
	typeUnsubscribe  = "unsubscribe"
	typeRefresh      = "refresh"
	typeSubscribed   = "subscribed"
	typeUnsubscribed = "unsubscribed"
	typeRefreshed    = "refreshed"
	typeError        = "error"
)

// control is one message a client sent: subscribe or unsubscribe topic,
// refresh with token, or a malformed message (bad says why).
type control struct {
	subscribe bool
	refresh   bool
	topic     string
	cursor    string
	token     string
	bad       string
	// rewind and since of a subscribe, as sent: checked when served, so
	// that a bad one is refused naming its topic.
	rewind, since string
	presence      bool
}

// parseControl reads a client's message: a JSON object with "type" and
// "topic", and "cursor", "rewind" (a number, or a string of one) and
// "since" (a duration string) for a subscribe; "type" and "token" for a
// refresh. Unknown fields are ignored. The frame type does not matter.
func parseControl(data []byte) control {
	var m struct {
		Type   string          `json:"type"`
		Topic  string          `json:"topic"`
		Cursor string          `json:"cursor"`
		Rewind json.RawMessage `json:"rewind"`
		Since  string          `json:"since"`
		Token  string          `json:"token"`
		// Presence asks the topic's join and leave events; the
		// connection's ?presence=true asks them for every topic.
		Presence bool `json:"presence"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return control{bad: "malformed message, want JSON {\"type\":\"subscribe\"|\"unsubscribe\",\"topic\":..}: " + err.Error()}
	}
	switch {
	case m.Type == typeRefresh && m.Token == "":
		return control{refresh: true, bad: "refresh without a token"}
	case m.Type == typeRefresh:
		return control{refresh: true, token: m.Token}
	case m.Type != typeSubscribe && m.Type != typeUnsubscribe:
		return control{bad: fmt.Sprintf("unknown message type %q, want subscribe, unsubscribe or refresh", cutMessage(m.Type))}
	case m.Topic == "":
		return control{bad: m.Type + " without a topic"}
	}
	c := control{subscribe: m.Type == typeSubscribe, topic: m.Topic, cursor: m.Cursor, since: m.Since, presence: m.Presence}
	if err := json.Unmarshal(m.Rewind, &c.rewind); err != nil && len(m.Rewind) > 0 {
		c.rewind = string(m.Rewind) // a number, checked with the rest
	}
	return c
}

// control serves one control message and sends its answer. A nil sess
// is a producer's connection.
func (cn *conn) control(sess *session.Session, r control) error {
	switch {
	case r.bad != "" && !cn.mux:
		return nil // a single-topic connection ignores what it does not take
	case r.bad != "":
		return cn.answer(answer{typ: typeError, status: http.StatusBadRequest, message: r.bad})
	case r.refresh:
		return cn.refresh(sess, r.token)
	case !r.subscribe:
		if sess.Remove(r.topic) {
			cn.pass.RemoveTopic(r.topic)
		}
		return cn.answer(answer{typ: typeUnsubscribed, topic: r.topic})
	}
	rw, err := transport.ParseRewind(r.rewind, r.since)
	if err == nil {
		rw.Presence, err = transport.RequestPresence(cn.req)
		rw.Presence = rw.Presence || r.presence
	}
	cursor := ""
	if err == nil {
		cursor, err = sess.Add(cn.req, r.topic, r.cursor, rw)
	}
	if err != nil {
		status, msg := refusal(err)
		return cn.answer(answer{typ: typeError, topic: r.topic, status: status, message: msg})
	}
	cn.pass.AddTopic(r.topic)
	return cn.answer(answer{typ: typeSubscribed, topic: r.topic, cursor: cursor})
}

// refusal is the status and message of a refused subscription, as an HTTP
// answer would carry them.
func refusal(err error) (int, string) {
	se := transport.Refuse(err, 0)
	if se.Message == "" {
		return se.Code, http.StatusText(se.Code)
	}
	return se.Code, se.Message
}

// answer is a control message of the server.
type answer struct {
	typ     string
	topic   string
	cursor  string    // of subscribed
	expires time.Time // of refreshed; zero: none
	status  int       // of error
	message string    // of error
}

func (cn *conn) answer(r answer) error {
	cn.buf = appendAnswer(cn.buf[:0], r)
	return cn.send(MessageText, cn.buf)
}

// appendAnswer appends r as JSON: "type", then "topic" unless empty, the
// cursor of a subscribed, the status and message of an error.
func appendAnswer(b []byte, r answer) []byte {
	b = append(b, `{"type":`...)
	b = transport.AppendJSONString(b, r.typ)
	if r.topic != "" {
		b = append(b, `,"topic":`...)
		b = transport.AppendJSONString(b, transport.ValidUTF8(r.topic))
	}
	switch r.typ {
	case typeSubscribed:
		b = append(b, `,"cursor":`...)
		b = transport.AppendJSONString(b, transport.ValidUTF8(r.cursor))
	case typeRefreshed:
		if !r.expires.IsZero() {
			b = append(b, `,"expires":"`...)
			b = r.expires.UTC().Truncate(time.Millisecond).AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
	case typeError:
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `,"message":`...)
		b = transport.AppendJSONString(b, transport.ValidUTF8(r.message))
	}
	return append(b, '}')
}

// cutMessage shortens what a client sent for an error message.
func cutMessage(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
