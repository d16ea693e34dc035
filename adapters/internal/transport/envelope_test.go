package transport

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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
			got := string(AppendEnvelope(nil, "", tt.ev))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			checkEnvelope(t, tt.ev, got)
		})
	}
}

// checkEnvelope decodes s and compares it with what NewEnvelope
// makes of ev.
func checkEnvelope(t *testing.T, ev framework.Event, s string) {
	t.Helper()
	var got Envelope
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	want := NewEnvelope(ev)
	want.ID, want.Event = strings.ToValidUTF8(want.ID, "\uFFFD"), strings.ToValidUTF8(want.Event, "\uFFFD")
	if got != want {
		t.Fatalf("%s decodes to %+v, want %+v", s, got, want)
	}
}

func TestAppendGap(t *testing.T) {
	got := string(AppendGap(nil, "", framework.Gap{Last: "a-1", Next: "a-5"}, "a-4"))
	want := gapEnvelope(framework.Gap{Last: "a-1", Next: "a-5"})
	want.ID = "a-4"
	b, _ := json.Marshal(want)
	if got != string(b) {
		t.Fatalf("got %s, want %s", got, b)
	}
}

func FuzzAppendEnvelope(f *testing.F) {
	f.Add("e-1", "name", []byte("data"), int64(0))
	f.Add("", "", []byte("\u2028\x00\"\\"), int64(1500))
	f.Add("\xff", "\xe2\x80", []byte{0xe2, 0x80, 0xa8, 0xff}, int64(-3))
	f.Fuzz(func(t *testing.T, id, name string, data []byte, retryMS int64) {
		ev := framework.Event{ID: id, Name: name, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		checkEnvelope(t, ev, string(AppendEnvelope(nil, "", ev)))
	})
}

// gapEnvelope is the gap notice as an Envelope, what AppendGap encodes.
func gapEnvelope(g framework.Gap) Envelope {
	b, _ := json.Marshal(g)
	return Envelope{Event: "gap", Data: string(b)}
}
