package websocket

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// A multiplexed connection ([Server.Topics]) also carries control
// messages, JSON in text frames:
//
//	client: {"type":"subscribe","topic":"x","cursor":"E-3"}  (cursor optional)
//	        {"type":"subscribe","topic":"x","rewind":10}      (or "since":"30s"; without a cursor)
//	        {"type":"unsubscribe","topic":"x"}
//	server: {"type":"subscribed","topic":"x","cursor":"<where x starts>"}
//	        {"type":"unsubscribed","topic":"x"}
//	        {"type":"error","topic":"x","status":403,"message":"..."}
//	        {"type":"error","status":400,"message":"..."}  (a malformed message)
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
	typeSubscribed   = "subscribed"
	typeUnsubscribed = "unsubscribed"
	typeError        = "error"
)

// control is one message a client sent on a multiplexed connection:
// subscribe or unsubscribe topic, or a malformed message (bad says why).
type control struct {
	subscribe bool
	topic     string
	cursor    string
	bad       string
	// rewind and since of a subscribe, as sent: checked when served, so
	// that a bad one is refused naming its topic.
	rewind, since string
}

// parseControl reads a client's message: a JSON object with "type" and
// "topic", and "cursor", "rewind" (a number, or a string of one) and
// "since" (a duration string) for a subscribe. Unknown fields are
// ignored. The frame type does not matter.
func parseControl(data []byte) control {
	var m struct {
		Type   string          `json:"type"`
		Topic  string          `json:"topic"`
		Cursor string          `json:"cursor"`
		Rewind json.RawMessage `json:"rewind"`
		Since  string          `json:"since"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return control{bad: "malformed message, want JSON {\"type\":\"subscribe\"|\"unsubscribe\",\"topic\":..}: " + err.Error()}
	}
	switch {
	case m.Type != typeSubscribe && m.Type != typeUnsubscribe:
		return control{bad: fmt.Sprintf("unknown message type %q, want subscribe or unsubscribe", cutMessage(m.Type))}
	case m.Topic == "":
		return control{bad: m.Type + " without a topic"}
	}
	c := control{subscribe: m.Type == typeSubscribe, topic: m.Topic, cursor: m.Cursor, since: m.Since}
	if err := json.Unmarshal(m.Rewind, &c.rewind); err != nil && len(m.Rewind) > 0 {
		c.rewind = string(m.Rewind) // a number, checked with the rest
	}
	return c
}

// control serves one control message and sends its answer.
func (cn *conn) control(req *http.Request, sess *session.Session, r control) error {
	switch {
	case r.bad != "":
		return cn.answer(answer{typ: typeError, status: http.StatusBadRequest, message: r.bad})
	case !r.subscribe:
		sess.Remove(r.topic)
		return cn.answer(answer{typ: typeUnsubscribed, topic: r.topic})
	}
	rw, err := transport.ParseRewind(r.rewind, r.since)
	cursor := ""
	if err == nil {
		cursor, err = sess.Add(req, r.topic, r.cursor, rw)
	}
	if err != nil {
		status, msg := refusal(err)
		return cn.answer(answer{typ: typeError, topic: r.topic, status: status, message: msg})
	}
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
	cursor  string // of subscribed
	status  int    // of error
	message string // of error
}

func (cn *conn) answer(r answer) error {
	cn.buf = appendAnswer(cn.buf[:0], r)
	return cn.send(MessageText, cn.buf)
}

// appendAnswer appends r as JSON: "type", then "topic" unless empty, the
// cursor of a subscribed, the status and message of an error.
func appendAnswer(b []byte, r answer) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, r.typ)
	if r.topic != "" {
		b = append(b, `,"topic":`...)
		b = appendJSONString(b, validUTF8(r.topic))
	}
	switch r.typ {
	case typeSubscribed:
		b = append(b, `,"cursor":`...)
		b = appendJSONString(b, validUTF8(r.cursor))
	case typeError:
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, validUTF8(r.message))
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
