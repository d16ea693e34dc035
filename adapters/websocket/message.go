package websocket

import "github.com/coder/websocket"

// MessageType is the type of a WebSocket data message: [MessageText] or
// [MessageBinary].
type MessageType = websocket.MessageType

// The message types.
const (
	MessageText   = websocket.MessageText
	MessageBinary = websocket.MessageBinary
)

// StatusCode is a WebSocket close status code (RFC 6455, section 7.4).
type StatusCode = websocket.StatusCode

// The close status codes the server sends or reports.
const (
	// StatusNormalClosure: the stream completed.
	StatusNormalClosure = websocket.StatusNormalClosure
	// StatusGoingAway: the server is shutting down, or the hub closed.
	StatusGoingAway = websocket.StatusGoingAway
	// StatusAbnormalClosure is never sent: it is the [CloseCode] of a
	// connection that ended without a closing handshake (a dead or
	// vanished peer).
	StatusAbnormalClosure = websocket.StatusAbnormalClosure
	// StatusPolicyViolation: the peer sent what it must not. Also sent,
	// at once after the upgrade, to a connection over the [Gate]'s
	// MaxPerUser: the user must close another before it opens one more.
	StatusPolicyViolation = websocket.StatusPolicyViolation
	// StatusMessageTooBig: an inbound message exceeded the read limit.
	StatusMessageTooBig = websocket.StatusMessageTooBig
	// StatusInternalError: the producer failed, or sent an item that
	// cannot be sent.
	StatusInternalError = websocket.StatusInternalError
	// StatusTryAgainLater: the subscriber's queue overflowed; reconnect
	// with the last ID to catch up. Also sent, at once after the upgrade,
	// to a connection over the [Gate]'s MaxPerAddress: the reason says
	// when to try again.
	StatusTryAgainLater = websocket.StatusTryAgainLater
	// StatusExpired: the authorization hook's answer expired (see
	// adapters.ExpiresAt), or a refresh was refused with 401: reconnect
	// with a new token from the cursor, or send a refresh before the
	// expiry.
	StatusExpired StatusCode = 4401
	// StatusRevoked: the [Gate] revoked the connection's user (or its
	// topic, on a single-topic connection), or a refresh no longer grants
	// its topic: reconnecting needs a token that the hook grants.
	StatusRevoked StatusCode = 4403
)

// Message is one inbound message, or an outbound one sent as it is (a
// [Handler] or [Producer] may emit Message items to choose the frame type
// whatever the [Format]).
type Message struct {
	Type MessageType
	Data []byte
}

// Text returns the message's data as a string.
func (m Message) Text() string { return string(m.Data) }
