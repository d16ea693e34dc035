package websocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	cws "github.com/coder/websocket"
)

// clientFrame is a frame as a client sends it: masked with key.
func clientFrame(op byte, fin bool, p []byte, key [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(p); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	unmask(b[start:], key, 0)
	return b
}

// got is what a frameReader handed on.
type got struct {
	op   byte
	data string
}

// readAll feeds stream to a reader in pieces of at most piece bytes. A
// message over the limit is recorded as op 0xFF, and the reading goes on;
// the first other error ends it.
func readAll(stream []byte, piece int, limit int64) ([]got, error) {
	r := frameReader{limit: limit}
	var out []got
	on := func(op byte, data []byte) error {
		out = append(out, got{op, string(data)})
		return nil
	}
	var tooBig error
	for len(stream) > 0 {
		k := min(piece, len(stream))
		p := stream[:k]
		stream = stream[k:]
		for len(p) > 0 {
			n, err := r.feed(p, on)
			p = p[n:]
			switch {
			case errors.Is(err, cws.ErrMessageTooBig):
				out = append(out, got{0xFF, ""})
				tooBig = err
			case err != nil:
				return out, err
			}
		}
	}
	return out, tooBig
}

func TestFrameReader(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	big := bytes.Repeat([]byte("x"), 70_000)
	var stream []byte
	stream = append(stream, clientFrame(opText, true, []byte("hello"), key)...)
	stream = append(stream, clientFrame(opBinary, false, []byte("frag"), key)...)
	stream = append(stream, clientFrame(opPing, true, []byte("in between"), key)...)
	stream = append(stream, clientFrame(opContinuation, false, nil, key)...)
	stream = append(stream, clientFrame(opContinuation, true, []byte("ment"), key)...)
	stream = append(stream, clientFrame(opText, true, big[:300], key)...)
	stream = append(stream, clientFrame(opBinary, true, big, key)...)
	stream = append(stream, clientFrame(opPong, true, nil, key)...)
	stream = append(stream, clientFrame(opClose, true, []byte{0x03, 0xE8, 'o', 'k'}, key)...)
	want := []got{{opText, "hello"}, {opPing, "in between"}, {opBinary, "fragment"},
		{opText, string(big[:300])}, {opBinary, string(big)}, {opPong, ""}, {opClose, "\x03\xe8ok"}}
	for _, piece := range []int{1, 2, 3, 7, 13, 4096, len(stream)} {
		out, err := readAll(stream, piece, int64(len(big)))
		if err != nil {
			t.Fatalf("piece %d: %v", piece, err)
		}
		if fmt.Sprint(out) != fmt.Sprint(want) {
			t.Fatalf("piece %d: got %d frames, want %d", piece, len(out), len(want))
		}
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	unmasked := clientFrame(opText, true, []byte("hi"), key)
	unmasked[1] &^= 0x80
	unmasked = append(unmasked[:2], []byte("hi")...)
	rsv := clientFrame(opText, true, []byte("hi"), key)
	rsv[0] |= 0x40 // permessage-deflate's bit: never negotiated
	for _, c := range []struct {
		name   string
		stream []byte
		want   error
	}{
		{"unmasked", unmasked, protocolError("")},
		{"reserved bit", rsv, protocolError("")},
		{"reserved opcode", clientFrame(0x3, true, nil, key), protocolError("")},
		{"fragmented ping", clientFrame(opPing, false, nil, key), protocolError("")},
		{"long ping", clientFrame(opPing, true, make([]byte, 126), key), protocolError("")},
		{"lone continuation", clientFrame(opContinuation, true, []byte("x"), key), protocolError("")},
		{"text inside a message", append(clientFrame(opText, false, []byte("a"), key), clientFrame(opText, true, []byte("b"), key)...), protocolError("")},
		{"too big", clientFrame(opText, true, make([]byte, 11), key), cws.ErrMessageTooBig},
		{"too big in pieces", append(clientFrame(opText, false, make([]byte, 6), key), clientFrame(opContinuation, true, make([]byte, 5), key)...), cws.ErrMessageTooBig},
	} {
		_, err := readAll(c.stream, 1, 10)
		var pe protocolError
		if errors.As(c.want, &pe) && !errors.As(err, &pe) || !errors.As(c.want, &pe) && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %T %v", c.name, err, c.want, c.want)
		}
	}
	// After a message over the limit, the reader drops its fragments and
	// reads on: the client's close frame is found.
	stream := append(clientFrame(opText, false, make([]byte, 11), key), clientFrame(opPing, true, []byte("p"), key)...)
	stream = append(stream, clientFrame(opContinuation, true, make([]byte, 3), key)...)
	stream = append(stream, clientFrame(opClose, true, []byte{0x03, 0xE8}, key)...)
	out, err := readAll(stream, 1, 10)
	if !errors.Is(err, cws.ErrMessageTooBig) || fmt.Sprint(out) != fmt.Sprint([]got{{0xFF, ""}, {opPing, "p"}, {opClose, "\x03\xe8"}}) {
		t.Errorf("after a message too big: %v, %v", out, err)
	}
	// Exactly at the limit is fine.
	if _, err := readAll(clientFrame(opText, true, make([]byte, 10), key), 1, 10); err != nil {
		t.Errorf("a message at the limit: %v", err)
	}
}

func TestParseClose(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		code StatusCode
		ok   bool
	}{
		{nil, cws.StatusNoStatusRcvd, true},
		{[]byte{3}, 0, false},
		{[]byte{0x03, 0xE8}, 1000, true},
		{[]byte{0x0F, 0xA0, 'b', 'y', 'e'}, 4000, true},
		{[]byte{0x03, 0xED}, 1005, false},
		{[]byte{0x03, 0xE7}, 999, false},
		{[]byte{0x07, 0xD0}, 2000, false},
		{[]byte{0x03, 0xE8, 0xFF}, 1000, false},
	} {
		ce, err := parseClose(c.p)
		if (err == nil) != c.ok || c.ok && ce.Code != c.code {
			t.Errorf("%x: %v %v, want %v ok=%v", c.p, ce, err, c.code, c.ok)
		}
	}
}

// FuzzFrameReader: whatever the bytes and however they are cut, the
// reader neither panics nor hands on a message over its limit or a
// control frame over 125 bytes, and it reads the same frames and stops at
// the same error whole as in pieces.
func FuzzFrameReader(f *testing.F) {
	key := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	f.Add(clientFrame(opText, true, []byte(`{"type":"refresh","token":"t"}`), key), uint8(0), uint16(64))
	f.Add(append(clientFrame(opText, false, []byte("ab"), key), append(clientFrame(opPing, true, []byte("p"), key), clientFrame(opContinuation, true, []byte("cd"), key)...)...), uint8(2), uint16(8))
	f.Add(clientFrame(opClose, true, []byte{0x03, 0xE8}, key), uint8(1), uint16(0))
	f.Add(clientFrame(opBinary, true, make([]byte, 300), key), uint8(5), uint16(200))
	f.Add([]byte{0x81, 0x7F, 0xFF, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, uint8(0), uint16(100))
	f.Fuzz(func(t *testing.T, stream []byte, piece uint8, limit uint16) {
		whole, werr := readAll(stream, len(stream)+1, int64(limit))
		cut, cerr := readAll(stream, int(piece)+1, int64(limit))
		if fmt.Sprint(whole) != fmt.Sprint(cut) || fmt.Sprint(werr) != fmt.Sprint(cerr) {
			t.Fatalf("whole %v %v, in pieces of %d %v %v", whole, werr, int(piece)+1, cut, cerr)
		}
		for _, g := range whole {
			switch {
			case g.op >= opClose && len(g.data) > maxControl:
				t.Fatalf("control frame of %d bytes", len(g.data))
			case g.op < opClose && len(g.data) > int(limit):
				t.Fatalf("message of %d bytes over the limit %d", len(g.data), limit)
			case g.op == 0xFF:
			case g.op != opText && g.op != opBinary && g.op != opClose && g.op != opPing && g.op != opPong:
				t.Fatalf("opcode %x handed on", g.op)
			}
		}
	})
}
