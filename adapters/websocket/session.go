package websocket

import (
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

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
	// StatusGoingAway: the server is shutting down.
	StatusGoingAway = websocket.StatusGoingAway
	// StatusAbnormalClosure is never sent: it reports a connection that
	// ended without a closing handshake (a dead or vanished peer).
	StatusAbnormalClosure = websocket.StatusAbnormalClosure
	// StatusPolicyViolation: the peer sent what it must not.
	StatusPolicyViolation = websocket.StatusPolicyViolation
	// StatusMessageTooBig: an inbound message exceeded the read limit.
	StatusMessageTooBig = websocket.StatusMessageTooBig
	// StatusInternalError: the producer failed.
	StatusInternalError = websocket.StatusInternalError
	// StatusTryAgainLater: the subscriber's queue overflowed; reconnect
	// with the last ID to catch up.
	StatusTryAgainLater = websocket.StatusTryAgainLater
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

// CloseStatus is how a connection ended.
type CloseStatus struct {
	// Code is the status sent or received; [StatusAbnormalClosure] when
	// the connection ended without a closing handshake.
	Code StatusCode
	// Reason is the close frame's reason, or what went wrong.
	Reason string
	// Remote reports that the peer closed first.
	Remote bool
}

// Session describes one connection to the [Hooks]. Its fields are set
// before the upgrade and must not be modified.
type Session struct {
	// ID identifies the connection among the Server's.
	ID string
	// RemoteAddr is the peer's network address.
	RemoteAddr string
	// URL is the request's URL; Header its headers.
	URL    *url.URL
	Header http.Header
	// Cursor is the resume cursor the client presented, if any.
	Cursor string
	// Subprotocol is the negotiated subprotocol; empty before the upgrade
	// or when none was.
	Subprotocol string
}

// Hooks are optional lifecycle callbacks, matching Spring's
// WebSocketHandler. They run on the connection's goroutines: they must not
// block for long (Message delays the reading of the next message) and must
// not keep the echo.Context.
type Hooks struct {
	// Established is called once the connection is upgraded.
	Established func(s *Session)
	// Message is called for every inbound data message, before a
	// [Handler]'s pipeline sees it. m.Data must not be modified.
	Message func(s *Session, m Message)
	// TransportError is called when the connection fails: a write that
	// timed out, a ping without pong, an oversized or malformed message.
	TransportError func(s *Session, err error)
	// Closed is called once when an upgraded connection has ended.
	Closed func(s *Session, st CloseStatus)
}
