package framework

import (
	"errors"
	"testing"
)

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Cursor
		ok   bool
		bad  bool
	}{
		{"", Cursor{}, false, false},
		{"0", Cursor{Seq: 0}, true, false},
		{"42", Cursor{Seq: 42}, true, false},
		{"mi2x8k1z-42", Cursor{Epoch: "mi2x8k1z", Seq: 42}, true, false},
		{"18446744073709551615", Cursor{Seq: 1<<64 - 1}, true, false},
		{"18446744073709551616", Cursor{}, false, true},
		{"-3", Cursor{}, false, true},
		{"a-", Cursor{}, false, true},
		{"a-b", Cursor{}, false, true},
		{"A-1", Cursor{}, false, true},
		{"a-1-2", Cursor{}, false, true},
		{"+1", Cursor{}, false, true},
		{" 1", Cursor{}, false, true},
		{"1\n", Cursor{}, false, true},
		{"abcdefghijklmnopq-1", Cursor{}, false, true},
	} {
		c, ok, err := ParseCursor(tc.in)
		if c != tc.want || ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("ParseCursor(%q) = %v, %v, %v", tc.in, c, ok, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("ParseCursor(%q): %v does not wrap ErrInvalidCursor", tc.in, err)
		}
		if ok && tc.want.Epoch != "" && c.String() != tc.in {
			t.Errorf("%q round-trips as %q", tc.in, c.String())
		}
	}
}

func TestValidTopic(t *testing.T) {
	for name, want := range map[string]bool{
		"chat": true, "a.b-c_D9": true, "": false, ".a": false, "a.": false, "a..b": false,
		"a/b": false, "a b": false, "ü": false, "a*": false, "a>": false,
		string(make([]byte, 129)): false,
	} {
		if ValidTopic(name) != want {
			t.Errorf("ValidTopic(%q) = %v", name, !want)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0", "a-1", "mi2x8k1z-42", "-", "1-", "z-18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok, err := ParseCursor(s)
		if err != nil {
			return
		}
		if !ok {
			if s != "" {
				t.Fatalf("%q: not ok without error", s)
			}
			return
		}
		again, _, err := ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, c, c.String(), again, err)
		}
	})
}
