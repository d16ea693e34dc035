package redisbroker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rxstream/rxstream/framework"
)

// Keys names the Redis keys of one topic. Every key of a topic carries the
// same hash tag, so that in a Redis Cluster they all live in one slot and
// one script may touch them together.
type Keys struct {
	// Stream is the topic's stream: "<prefix>:{T}".
	Stream string
	// Meta is a hash of the topic's epoch (field "e") and the ID of its
	// newest event (field "l"): "<prefix>:{T}:meta".
	Meta string
	// Idem is the prefix of the topic's idempotency keys: "<prefix>:{T}:idem:".
	Idem string
}

// TopicKeys returns the keys of topic under prefix. The hash tag is the
// topic itself when tag is "" (a topic is a [framework.ValidTopic] name,
// which contains no braces): "<prefix>:{T}", "<prefix>:{T}:meta",
// "<prefix>:{T}:idem:". With a tag, every topic shares it, so that all of
// them live in one slot of a Redis Cluster (see Options.HashTag):
// "<prefix>:{<tag>}:T", and so on. An invalid topic is an error wrapping
// [framework.ErrInvalidTopic].
func TopicKeys(prefix, tag, topic string) (Keys, error) {
	if !framework.ValidTopic(topic) {
		return Keys{}, fmt.Errorf("%w: %q", framework.ErrInvalidTopic, topic)
	}
	s := prefix + ":{" + topic + "}"
	if tag != "" {
		s = prefix + ":{" + tag + "}:" + topic
	}
	return Keys{Stream: s, Meta: s + ":meta", Idem: s + ":idem:"}, nil
}

// validPrefix reports whether p can start key names or be a hash tag:
// printable ASCII without spaces or braces (a brace would move the hash
// tag).
func validPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// The mapping between stream IDs and cursor sequence numbers. A Redis
// stream ID is "MS-SEQ", two 64-bit numbers; the Broker writes IDs whose SEQ
// is below 2^seqBits (its publish script moves to the next millisecond
// rather than past it) and whose MS is Redis's clock, below 2^44 until the
// year 2527. The cursor's sequence number is MS<<seqBits | SEQ: exact both
// ways and in the same order, so Redis compares cursors as stream IDs.
const (
	seqBits = 20
	seqMask = 1<<seqBits - 1
	maxMS   = 1<<(64-seqBits) - 1
)

// ToID returns the stream ID of sequence number seq. Every uint64 is the
// sequence of some ID.
func ToID(seq uint64) string {
	return strconv.FormatUint(seq>>seqBits, 10) + "-" + strconv.FormatUint(seq&seqMask, 10)
}

// FromID returns the sequence number of a stream ID "MS-SEQ". It fails for
// anything else, and for IDs out of the mapping's range (SEQ of 2^20 or
// more, MS of 2^44 or more), which the Broker never writes.
func FromID(id string) (uint64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return 0, fmt.Errorf("rxstream: redis: stream ID %q: want MS-SEQ", id)
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	s, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("rxstream: redis: stream ID %q: want MS-SEQ in decimal", id)
	}
	if m > maxMS || s > seqMask {
		return 0, fmt.Errorf("rxstream: redis: stream ID %q: out of range (MS below 2^44, SEQ below 2^20)", id)
	}
	return m<<seqBits | s, nil
}
