package transport

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rxstream/rxstream/framework"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n                int
		min, max, floor  time.Duration
		wantMin, wantMax time.Duration
	}{
		{1, time.Second, 30 * time.Second, 0, 500 * time.Millisecond, time.Second},
		{2, time.Second, 30 * time.Second, 0, time.Second, 2 * time.Second},
		{4, time.Second, 30 * time.Second, 0, 4 * time.Second, 8 * time.Second},
		{40, time.Second, 30 * time.Second, 0, 15 * time.Second, 30 * time.Second},
		{1, time.Second, 30 * time.Second, 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{3, time.Second, 3 * time.Second, 0, 1500 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			d := Backoff(tt.n, tt.min, tt.max, tt.floor)
			if d < tt.wantMin || d > tt.wantMax {
				t.Fatalf("Backoff(%d, %v, %v, %v) = %v, want [%v, %v]", tt.n, tt.min, tt.max, tt.floor, d, tt.wantMin, tt.wantMax)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 2 * time.Second: "2", 2001 * time.Millisecond: "3"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "-1": 0, "x": 0, "0": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		if got := ParseRetryAfter(v); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	if got := ParseRetryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); got < 59*time.Minute || got > time.Hour {
		t.Errorf("ParseRetryAfter(date in an hour) = %v", got)
	}
}

// FuzzPollAnswer: an answer's JSON decodes to the PollBody that the
// envelopes of its events make (NewEnvelope, gapEnvelope), on a topic's
// own answer and on a multiplexed one, with or without a gap and retry.
func FuzzPollAnswer(f *testing.F) {
	f.Add("t", "e-1", "name", []byte("data"), int64(0), "e-1", "", "", false)
	f.Add("a.b", "", "", []byte("\u2028\x00\"\\<&>"), int64(1500), "c:1,2", "e-0", "e-3", true)
	f.Add("t", "e-2", "n", []byte{0xe2, 0x80, 0xa8, 0xff}, int64(-3), "", "e-1", "", false)
	f.Fuzz(func(t *testing.T, topic, id, name string, data []byte, retryMS int64, cursor, last, next string, multi bool) {
		for _, s := range []string{topic, id, name, cursor, last, next} {
			if !utf8.ValidString(s) {
				t.Skip() // replaced by U+FFFD, as checkEnvelope allows
			}
		}
		for _, c := range []string{last, next} {
			if _, _, err := framework.ParseCursor(c); err != nil {
				t.Skip() // a gap names cursors
			}
		}
		ev := framework.Event{ID: id, Name: name, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		var a PollAnswer
		want := PollBody{Events: []Envelope{}, Cursor: cursor}
		if last != "" {
			g := framework.Gap{Last: last, Next: next}
			if multi {
				a.AddGap(topic, g)
				e := gapEnvelope(g)
				e.Topic = topic
				want.Events = append(want.Events, e)
			} else {
				a.Gap, want.Gap = &g, &g
			}
		}
		for range 2 {
			a.Add(topic, ev, multi)
			e := NewEnvelope(ev)
			if multi {
				e.Topic = topic
			}
			want.Events = append(want.Events, e)
		}
		a.Cursor = cursor
		if retryMS >= 0 {
			a.Retry, want.Retry = &retryMS, &retryMS
		}
		var got PollBody
		if err := json.Unmarshal(a.JSON(), &got); err != nil {
			t.Fatalf("%s: %v", a.JSON(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s decodes to\n%+v, want\n%+v", a.JSON(), got, want)
		}
	})
}
