package websocket

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// A client keeps its connection past the expiry of its token by sending a
// new one, {"type":"refresh","token":"..."}, on a connection to
// [Server.Topic], [Server.Topics] or [Server.Stream]. The server asks the
// authorization hook again, with the connection's request whose
// Authorization header is now "Bearer <token>", about every topic the
// connection follows (a producer's: topic ""), as it would for a new
// request, and then:
//
//   - every topic granted: the connection's expiry becomes the one the hook
//     gave now (none when it gave none), and the server answers
//     {"type":"refreshed","expires":"<RFC 3339>"}; later subscribe
//     messages are asked with the new token;
//   - a topic refused 401 (the token is not accepted), or any topic of a
//     single-topic or producer's connection refused: the connection is
//     closed, [StatusExpired] for a 401 and [StatusRevoked] otherwise, the
//     same as at expiry and at revocation;
//   - some topics of a multiplexed connection refused otherwise (403):
//     each of them ends, answered {"type":"error","topic","status",
//     "message"} after the last of its events, and the others go on;
//   - the hook cannot decide (a 5xx): nothing changes, and the server
//     answers {"type":"error","status","message"}; the old expiry holds;
//   - a token that names another user (adapters.SetUser) than the
//     connection's: closed with [StatusRevoked].
//
// A [Server.Duplex] connection's messages are its handler's: it takes no
// refresh, and ends at expiry.

// closeWith is the error of a control message that ends the connection
// with why's close frame, instead of dropping it.
type closeWith struct{ why error }

func (e *closeWith) Error() string { return e.why.Error() }
func (e *closeWith) Unwrap() error { return e.why }

// refresh serves a refresh message; sess is nil on a producer's
// connection.
func (cn *conn) refresh(sess *session.Session, token string) error {
	r := cn.req.Clone(cn.req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	r, grant := transport.Collect(r)
	names := []string{""}
	if sess != nil {
		names, _ = sess.Topics()
	}
	type refused struct {
		topic   string
		status  int
		message string
	}
	var drop []refused
	for _, name := range names {
		var err error
		if sess == nil {
			err = transport.Allow(r)
		} else {
			err = transport.Check(r, name, transport.Subscribe)
		}
		if err == nil {
			continue
		}
		status, msg := refusal(err)
		switch {
		case status >= 500:
			return cn.answerEnvelope(answer{typ: typeError, status: status, message: msg})
		case status == http.StatusUnauthorized:
			return &closeWith{fmt.Errorf("%w: the refresh was refused: %s", ErrExpired, msg)}
		case !cn.mux:
			return &closeWith{fmt.Errorf("%w: the refresh no longer grants the topic: %s", ErrRevoked, msg)}
		}
		drop = append(drop, refused{name, status, msg})
	}
	if err := cn.pass.Refresh(grant); err != nil {
		return &closeWith{err}
	}
	cn.req = r
	for _, d := range drop {
		if sess.Remove(d.topic) {
			cn.pass.RemoveTopic(d.topic)
		}
		if err := cn.answer(answer{typ: typeError, topic: d.topic, status: d.status, message: d.message}); err != nil {
			return err
		}
	}
	return cn.answerEnvelope(answer{typ: typeRefreshed, expires: cn.pass.Expires()})
}

// answerEnvelope sends r on a connection whose messages are JSON: a
// multiplexed one, or one of envelopes. On a raw format it would look like
// an event.
func (cn *conn) answerEnvelope(r answer) error {
	if !cn.mux && cn.opts.Format != FormatEnvelope {
		return nil
	}
	return cn.answer(r)
}

// topicRevoked is the Pass's OnTopic of a multiplexed connection: the
// write loop drops the topic before its next batch.
func (cn *conn) topicRevoked(topic string) {
	cn.revMu.Lock()
	if !slices.Contains(cn.revoked, topic) {
		cn.revoked = append(cn.revoked, topic)
	}
	cn.revMu.Unlock()
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// dropRevoked ends the subscriptions of the revoked topics, each answered
// {"type":"error","topic","status":403,"message"} after its last event.
func (cn *conn) dropRevoked(sess *session.Session) error {
	cn.revMu.Lock()
	topics := cn.revoked
	cn.revoked = nil
	cn.revMu.Unlock()
	for _, t := range topics {
		if !sess.Remove(t) {
			continue
		}
		cn.pass.RemoveTopic(t)
		if err := cn.answer(answer{typ: typeError, topic: t, status: http.StatusForbidden, message: ErrRevoked.Error()}); err != nil {
			return err
		}
	}
	return nil
}
