package session

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rxstream/rxstream/framework"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		pos  []string
		want string
	}{
		{[]string{"e1-4", "e1-9"}, "e1:4,9"},
		{[]string{"e1-4", "", "e1-0"}, "e1:4,,0"},
		{[]string{"", "e2-3"}, "e2:,3"},
		{[]string{"e1-4", "e2-3"}, "e1:4,e2-3"}, // another epoch stays whole
		{[]string{"e1-4", "42"}, ":e1-4,42"},    // a bare position: all whole
		{[]string{"", ""}, ":,"},                // no position at all
		{[]string{"e1-18446744073709551615"}, "e1:18446744073709551615"},
	} {
		got := string(formatCursor(nil, tt.pos))
		if got != tt.want {
			t.Errorf("formatCursor(%q) = %q, want %q", tt.pos, got, tt.want)
		}
		back, err := parseCursor(got, len(tt.pos))
		if err != nil || !slices.Equal(back, tt.pos) {
			t.Errorf("parseCursor(%q) = %q, %v; want %q", got, back, err, tt.pos)
		}
	}
}

func TestParseCursorRefuses(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		says string
	}{
		{"e1-4", 1, "want EPOCH:SEQ"},
		{"e1:4,5", 3, "names 2 topics, the request 3"},
		{"e1:4,x", 2, "position 2"},
		{"E!:4", 1, "position 1"},
		{"e1:" + strings.Repeat("9", 200), 2, "longer than"},
	} {
		_, err := parseCursor(tt.s, tt.n)
		if !errors.Is(err, framework.ErrInvalidCursor) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("parseCursor(%q, %d) = %v, want an invalid cursor saying %q", tt.s, tt.n, err, tt.says)
		}
	}
}

func FuzzCursor(f *testing.F) {
	f.Add("e1:4,,9", 3)
	f.Add(":a-1,2", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 1 || n > MaxTopics {
			return
		}
		pos, err := parseCursor(s, n)
		if err != nil {
			return
		}
		again, err := parseCursor(string(formatCursor(nil, pos)), n)
		if err != nil || !slices.Equal(again, pos) {
			t.Fatalf("%q: %q formats to what reads back as %q, %v", s, pos, again, err)
		}
	})
}
