package websocket

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCloseReason(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"boom", "boom"},
		{strings.Repeat("x", 123), strings.Repeat("x", 123)},
		{strings.Repeat("x", 124), strings.Repeat("x", 120) + "…"},
		{strings.Repeat("错", 50), strings.Repeat("错", 40) + "…"}, // 40*3+3 = 123
		{"bad \xff byte", "bad ? byte"},
	}
	for _, tt := range tests {
		if got := closeReason(tt.in); got != tt.want {
			t.Errorf("closeReason(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzCloseReason(f *testing.F) {
	f.Add("boom")
	f.Add(strings.Repeat("错", 60))
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		r := closeReason(s)
		if len(r) > MaxCloseReason || !utf8.ValidString(r) {
			t.Fatalf("closeReason(%q) = %q: %d bytes", s, r, len(r))
		}
		if utf8.ValidString(s) && len(s) <= MaxCloseReason && r != s {
			t.Fatalf("closeReason(%q) changed a short reason to %q", s, r)
		}
	})
}

func TestReasonCursor(t *testing.T) {
	for _, tt := range []struct{ reason, want string }{
		{"cursor=ab1-42; server shutting down", "ab1-42"},
		{"cursor=7", "7"},
		{"cursor=; x", ""},
		{"cursor=not a cursor; x", ""},
		{"boom", ""},
		{closeReason(reasonWithCursor("ab1-42", strings.Repeat("错", 60))), "ab1-42"},
	} {
		if got := ReasonCursor(tt.reason); got != tt.want {
			t.Errorf("ReasonCursor(%q) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}

// FuzzParseControl: any message parses without panicking into one control
// message: a refresh only for a refresh with its token, a subscribe or
// unsubscribe only with a topic, and anything else a malformed one.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte(`{"type":"refresh","token":"t"}`))
	f.Add([]byte(`{"type":"subscribe","topic":"a","cursor":"E-1"}`))
	f.Add([]byte(`{"type":"refresh"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := parseControl(data)
		switch {
		case c.bad != "":
			if c.token != "" || c.topic != "" {
				t.Fatalf("malformed, yet %+v", c)
			}
		case c.refresh:
			if c.token == "" || c.subscribe || c.topic != "" {
				t.Fatalf("refresh %+v", c)
			}
		case c.topic == "":
			t.Fatalf("no topic: %+v", c)
		}
	})
}
