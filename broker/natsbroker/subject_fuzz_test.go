package natsbroker_test

import (
	"strings"
	"testing"

	"github.com/rxstream/rxstream/broker/natsbroker"
)

// FuzzSubject checks that every accepted topic maps to a literal NATS
// subject (no wildcard, no empty token, no whitespace) under the prefix.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"news", "a.b", "a..b", ".a", "a*", ">", "a b", "x.>", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		s, err := natsbroker.Subject("rx", topic)
		if err != nil {
			return
		}
		if s != "rx."+topic {
			t.Fatalf("Subject(%q) = %q", topic, s)
		}
		for tok := range strings.SplitSeq(s, ".") {
			if tok == "" || strings.ContainsAny(tok, "*> \t\r\n\x00") {
				t.Fatalf("Subject(%q) = %q has token %q", topic, s, tok)
			}
		}
	})
}
