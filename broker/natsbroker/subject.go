package natsbroker

import (
	"fmt"
	"strings"

	"github.com/rxstream/rxstream/framework"
)

// Subject returns the NATS subject that carries topic under prefix:
// "<prefix>.<topic>". A topic is a [framework.ValidTopic] name; its dots are
// NATS token separators, so "orders.eu" is the subject "<prefix>.orders.eu",
// a subject of its own (no topic name can contain the wildcards '*' or '>',
// nor an empty token). An invalid topic is an error wrapping
// [framework.ErrInvalidTopic].
func Subject(prefix, topic string) (string, error) {
	if !framework.ValidTopic(topic) {
		return "", fmt.Errorf("%w: %q", framework.ErrInvalidTopic, topic)
	}
	return prefix + "." + topic, nil
}

// validPrefix reports whether p is a NATS subject without wildcards: tokens
// of printable ASCII other than '*' and '>', separated by single dots.
func validPrefix(p string) bool {
	if p == "" {
		return false
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c >= 0x7f || c == '*' || c == '>' {
				return false
			}
		}
	}
	return true
}
