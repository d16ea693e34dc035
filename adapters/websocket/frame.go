package websocket

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// A parked connection (see park.go) reads and writes RFC 6455 frames
// itself, as its socket has them: frameReader takes the client's bytes in
// whatever pieces they come and hands on whole messages and control
// frames; appendFrame frames what the server sends.

// The opcodes of RFC 6455, section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxControl is the largest payload of a control frame (RFC 6455, 5.5).
const maxControl = 125

// protocolError is a frame the client must not send: the connection is
// closed with 1002.
type protocolError string

func (e protocolError) Error() string { return "rxstream: websocket: protocol error: " + string(e) }

// frameReader is the state of the reading of a client's frames between
// two pieces of its stream: a partial header, what is left of a frame's
// payload, and the message or control frame gathered so far. An idle
// reader holds no buffer.
type frameReader struct {
	limit int64 // the largest data message; larger ones fail with websocket.ErrMessageTooBig

	hdr  [14]byte // the header read so far
	nh   int      // its bytes
	body bool     // the header is read: left bytes of payload are due
	op   byte     // the current frame's opcode
	fin  bool
	mask [4]byte
	left int64 // payload bytes of the current frame still to come
	off  int   // payload bytes of the current frame read, for the mask

	ctl   []byte // the control frame's payload so far
	msg   []byte // the data message's payload so far
	msgOp byte   // its opcode (opText or opBinary); 0 between messages
	drop  bool   // the message went over the limit: its payload is dropped
}

// feed reads p, the next bytes of the stream, and calls on with each
// control frame (op opClose, opPing, opPong) and each whole data message
// (op opText or opBinary) as they complete; data is valid until on
// returns, and a message's is its own. It stops at the first error, and
// returns the bytes of p it read: on's error; a protocolError, after
// which the reader is unusable; or websocket.ErrMessageTooBig at the
// header that takes a message over the limit, after which the reader
// goes on with the rest of p, dropping that message.
func (r *frameReader) feed(p []byte, on func(op byte, data []byte) error) (int, error) {
	n := len(p)
	for len(p) > 0 || r.body && r.left == 0 {
		if !r.body {
			k, err := r.header(p)
			p = p[k:]
			if err != nil {
				return n - len(p), err
			}
			continue
		}
		k := int(min(r.left, int64(len(p))))
		chunk := p[:k]
		p = p[k:]
		switch {
		case r.op >= opClose:
			start := len(r.ctl)
			r.ctl = append(r.ctl, chunk...)
			unmask(r.ctl[start:], r.mask, r.off)
		case !r.drop:
			start := len(r.msg)
			r.msg = append(r.msg, chunk...)
			unmask(r.msg[start:], r.mask, r.off)
		}
		r.off += k
		r.left -= int64(k)
		if r.left > 0 {
			continue
		}
		r.body, r.nh = false, 0
		switch {
		case r.op >= opClose:
			err := on(r.op, r.ctl)
			r.ctl = nil
			if err != nil {
				return n - len(p), err
			}
		case r.fin:
			op, msg, drop := r.msgOp, r.msg, r.drop
			r.msg, r.msgOp, r.drop = nil, 0, false // an idle reader holds no buffer
			if drop {
				continue
			}
			if err := on(op, msg); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// header reads what it can of a frame's header from p and returns how
// many bytes it took; once the header is whole, it is checked and the
// payload is due.
func (r *frameReader) header(p []byte) (int, error) {
	need := 2
	if r.nh >= 2 {
		need = headerLen(r.hdr[1])
	}
	took := 0
	for r.nh < need && took < len(p) {
		r.hdr[r.nh] = p[took]
		r.nh++
		took++
		if r.nh == 2 {
			need = headerLen(r.hdr[1])
		}
	}
	if r.nh < need {
		return took, nil
	}
	b0, b1 := r.hdr[0], r.hdr[1]
	r.fin, r.op = b0&0x80 != 0, b0&0x0F
	var n uint64
	switch l := b1 & 0x7F; l {
	case 126:
		n = uint64(binary.BigEndian.Uint16(r.hdr[2:]))
	case 127:
		n = binary.BigEndian.Uint64(r.hdr[2:])
	default:
		n = uint64(l)
	}
	switch {
	case b0&0x70 != 0:
		return took, protocolError("reserved bits set without an extension")
	case b1&0x80 == 0:
		return took, protocolError("a client frame must be masked")
	case n > 1<<63-1:
		return took, protocolError("payload length over 2^63-1")
	}
	switch r.op {
	case opClose, opPing, opPong:
		if !r.fin {
			return took, protocolError("fragmented control frame")
		}
		if n > maxControl {
			return took, protocolError("control frame over 125 bytes")
		}
	case opText, opBinary:
		if r.msgOp != 0 {
			return took, protocolError("new data frame in the middle of a fragmented message")
		}
		r.msgOp = r.op
	case opContinuation:
		if r.msgOp == 0 {
			return took, protocolError("continuation frame without a message to continue")
		}
	default:
		return took, protocolError("reserved opcode")
	}
	copy(r.mask[:], r.hdr[need-4:need])
	r.body, r.left, r.off = true, int64(n), 0
	if r.op < opClose && !r.drop && int64(n) > r.limit-int64(len(r.msg)) {
		r.msg, r.drop = nil, true
		return took, websocket.ErrMessageTooBig
	}
	return took, nil
}

// headerLen is the length of a client frame's header given its second
// byte: 2, the extended length, and the masking key when masked.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// unmask unmasks p, the payload bytes from offset off of a frame.
func unmask(p []byte, key [4]byte, off int) {
	for i := range p {
		p[i] ^= key[(off+i)&3]
	}
}

// appendFrame appends a whole unmasked frame (a server's) of op with
// payload p.
func appendFrame(b []byte, op byte, p []byte) []byte {
	b = appendHeader(b, op, len(p))
	return append(b, p...)
}

// appendHeader appends the header of a whole unmasked frame of op whose
// payload is n bytes.
func appendHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
}

// appendClose appends a close frame with code and reason (cut to
// MaxCloseReason bytes as closeReason does).
func appendClose(b []byte, code StatusCode, reason string) []byte {
	reason = closeReason(reason)
	b = appendHeader(b, opClose, 2+len(reason))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// parseClose reads the payload of a client's close frame: its code
// (websocket.StatusNoStatusRcvd when it has none) and reason; a payload
// of one byte, a code a peer must not send or a reason that is not UTF-8
// is a protocolError.
func parseClose(p []byte) (websocket.CloseError, error) {
	switch {
	case len(p) == 0:
		return websocket.CloseError{Code: websocket.StatusNoStatusRcvd}, nil
	case len(p) == 1:
		return websocket.CloseError{}, protocolError("close frame of one byte")
	}
	ce := websocket.CloseError{Code: StatusCode(binary.BigEndian.Uint16(p)), Reason: string(p[2:])}
	if !validWireCloseCode(ce.Code) {
		return ce, protocolError("invalid close code")
	}
	if !utf8.ValidString(ce.Reason) {
		return ce, protocolError("close reason is not UTF-8")
	}
	return ce, nil
}

// validWireCloseCode reports whether a peer may send code (RFC 6455,
// 7.4.1, and the IANA registry), as coder/websocket decides it.
func validWireCloseCode(code StatusCode) bool {
	switch code {
	case 1004, websocket.StatusNoStatusRcvd, websocket.StatusAbnormalClosure, websocket.StatusTLSHandshake:
		return false
	}
	return code >= websocket.StatusNormalClosure && code <= websocket.StatusBadGateway || code >= 3000 && code <= 4999
}
