package websocket

import (
	"strings"
	"testing"
)

// TestTopicsSubscribeRewind: a subscribe message without a cursor may ask
// for the topic's last events (rewind, a number or a string of one) or
// those of a duration (since); a cursor wins; a bad value is refused
// naming its topic and its parameter, and the connection goes on.
func TestTopicsSubscribeRewind(t *testing.T) {
	f := newMuxFixture(t, nil, nil, nil)
	var ids []string
	for _, d := range []string{"r1", "r2", "r3"} {
		ids = append(ids, f.publish(t, "r", d))
	}
	c := f.dial("/topics?topic=a", nil)
	expectSubscribed(t, c, []string{"a"}, []string{f.hub.Broker().(interface{ Epoch() string }).Epoch() + "-0"})

	for _, tc := range []struct {
		name, msg string
		want      []string
	}{
		{"rewind", `{"type":"subscribe","topic":"r","rewind":2}`, []string{"r2@" + ids[1], "r3@" + ids[2]}},
		{"rewind as a string", `{"type":"subscribe","topic":"r","rewind":"1"}`, []string{"r3@" + ids[2]}},
		{"since", `{"type":"subscribe","topic":"r","since":"1m"}`, []string{"r1@" + ids[0], "r2@" + ids[1], "r3@" + ids[2]}},
		{"a cursor wins", `{"type":"subscribe","topic":"r","cursor":"` + ids[1] + `","rewind":3}`, []string{"r3@" + ids[2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeText(t, c, tc.msg)
			if m, s := readMux(t, c); m.Type != "subscribed" || m.Topic != "r" {
				t.Fatalf("got %s", s)
			}
			want := map[string][]string{"r": tc.want}
			checkPerTopic(t, collect(t, c, want), want)
			writeText(t, c, `{"type":"unsubscribe","topic":"r"}`)
			if _, s := read(t, c); s != `{"type":"unsubscribed","topic":"r"}` {
				t.Fatalf("got %s", s)
			}
		})
	}
	for _, tc := range []struct{ msg, says string }{
		{`{"type":"subscribe","topic":"r","rewind":-1}`, `rewind=\"-1\"`},
		{`{"type":"subscribe","topic":"r","rewind":1.5}`, `rewind=\"1.5\"`},
		{`{"type":"subscribe","topic":"r","rewind":5000}`, `rewind=5000: at most 1000`},
		{`{"type":"subscribe","topic":"r","since":"soon"}`, `since=\"soon\"`},
		{`{"type":"subscribe","topic":"r","rewind":1,"since":"1m"}`, `together`},
	} {
		writeText(t, c, tc.msg)
		m, s := readMux(t, c)
		if m.Type != "error" || m.Topic != "r" || m.Status != 400 || !strings.Contains(s, tc.says) {
			t.Fatalf("%s: got %s, want a 400 for r saying %s", tc.msg, s, tc.says)
		}
	}
	// The connection goes on.
	want := map[string][]string{"a": {"a1@" + f.publish(t, "a", "a1")}}
	checkPerTopic(t, collect(t, c, want), want)
}
