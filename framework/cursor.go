package framework

import (
	"strconv"
	"strings"
)

// MaxCursorLen is the longest cursor string that [ParseCursor] accepts.
const MaxCursorLen = 64

// Cursor is a position in a topic: the sequence number of an event within an
// epoch. A broker changes epoch when it loses its numbering (an in-memory
// broker at every process start), so a cursor from an earlier epoch is known
// to be stale instead of being mistaken for a position in the new one.
//
// Its string form, used as event ID on every transport, is "EPOCH-SEQ", for
// example "mi2x8k1z-42". Clients treat it as opaque.
type Cursor struct {
	Epoch string // lower-case letters and digits; empty means the current epoch
	Seq   uint64 // 0 is the position before the first event
}

// String returns the cursor in the form that [ParseCursor] reads.
func (c Cursor) String() string {
	if c.Epoch == "" {
		return strconv.FormatUint(c.Seq, 10)
	}
	return c.Epoch + "-" + strconv.FormatUint(c.Seq, 10)
}

// ParseCursor reads a cursor as sent by a client. The empty string is the
// zero Cursor with ok false: the client holds no cursor and starts with live
// events. A bare sequence number ("42") is accepted and means that position
// in the current epoch. Anything else that is not "EPOCH-SEQ" is a
// [*CursorError].
func ParseCursor(s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	if len(s) > MaxCursorLen {
		return Cursor{}, false, &CursorError{Cursor: s[:MaxCursorLen], Reason: "longer than " + strconv.Itoa(MaxCursorLen) + " bytes"}
	}
	epoch, seq, found := strings.Cut(s, "-")
	if !found {
		epoch, seq = "", s
	} else if !validEpoch(epoch) {
		return Cursor{}, false, &CursorError{Cursor: s, Reason: "epoch must be lower-case letters and digits"}
	}
	n, perr := strconv.ParseUint(seq, 10, 64)
	if perr != nil {
		return Cursor{}, false, &CursorError{Cursor: s, Reason: "want EPOCH-SEQ with a decimal sequence number"}
	}
	return Cursor{Epoch: epoch, Seq: n}, true, nil
}

func validEpoch(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// MaxTopicLen is the longest topic name that [ValidTopic] accepts.
const MaxTopicLen = 128

// ValidTopic reports whether name can be a topic: 1 to [MaxTopicLen] bytes
// of ASCII letters, digits, '-', '_' and '.', neither starting nor ending
// with '.' and without "..". The rule keeps names safe in URLs, logs and
// broker subjects.
func ValidTopic(name string) bool {
	if name == "" || len(name) > MaxTopicLen || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
