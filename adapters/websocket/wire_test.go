package websocket

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

func TestAppendEnvelope(t *testing.T) {
	tests := []struct {
		name string
		ev   framework.Event
		want string
	}{
		{"data only", framework.Event{Data: []byte("hi")}, `{"data":"hi"}`},
		{"empty", framework.Event{}, `{"data":""}`},
		{"all fields", framework.Event{ID: "e-1", Name: "n", Data: []byte("d"), Retry: 1500 * time.Millisecond},
			`{"id":"e-1","event":"n","data":"d","retry":1500}`},
		{"escapes", framework.Event{Data: []byte("\"\\\n\r\t\x00\x1f\u2028\u2029<&>")},
			`{"data":"\"\\\n\r\t\u0000\u001f\u2028\u2029<&>"}`},
		{"non-ASCII", framework.Event{Data: []byte("服务器回复: 你好")}, `{"data":"服务器回复: 你好"}`},
		{"binary", framework.Event{Data: []byte{0xff, 0xfe}}, `{"data":"//4=","base64":true}`},
		{"invalid UTF-8 name", framework.Event{Name: "a\xffb", Data: []byte("x")}, "{\"event\":\"a\uFFFDb\",\"data\":\"x\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendEnvelope(nil, "", tt.ev))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			checkEnvelope(t, tt.ev, got)
		})
	}
}

// checkEnvelope decodes s and compares it with what transport.NewEnvelope
// makes of ev.
func checkEnvelope(t *testing.T, ev framework.Event, s string) {
	t.Helper()
	var got transport.Envelope
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	want := transport.NewEnvelope(ev)
	want.ID, want.Event = strings.ToValidUTF8(want.ID, "\uFFFD"), strings.ToValidUTF8(want.Event, "\uFFFD")
	if got != want {
		t.Fatalf("%s decodes to %+v, want %+v", s, got, want)
	}
}

func TestAppendGap(t *testing.T) {
	got := string(appendGap(nil, "", framework.Gap{Last: "a-1", Next: "a-5"}, "a-4"))
	want := transport.GapEnvelope(framework.Gap{Last: "a-1", Next: "a-5"})
	want.ID = "a-4"
	b, _ := json.Marshal(want)
	if got != string(b) {
		t.Fatalf("got %s, want %s", got, b)
	}
}

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

func FuzzAppendEnvelope(f *testing.F) {
	f.Add("e-1", "name", []byte("data"), int64(0))
	f.Add("", "", []byte("\u2028\x00\"\\"), int64(1500))
	f.Add("\xff", "\xe2\x80", []byte{0xe2, 0x80, 0xa8, 0xff}, int64(-3))
	f.Fuzz(func(t *testing.T, id, name string, data []byte, retryMS int64) {
		ev := framework.Event{ID: id, Name: name, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		checkEnvelope(t, ev, string(appendEnvelope(nil, "", ev)))
	})
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
