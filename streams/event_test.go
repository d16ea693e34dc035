package streams_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

type stringer struct{ N int }

func (s stringer) String() string { return "stringer" }

func TestToEvent(t *testing.T) {
	ev := framework.Event{ID: "1", Name: "n", Data: []byte("d"), Retry: time.Second}
	tests := []struct {
		name    string
		in      any
		want    framework.Event
		wantErr error
	}{
		{"Event", ev, ev, nil},
		{"*Event", &ev, ev, nil},
		{"nil *Event", (*framework.Event)(nil), framework.Event{}, streams.ErrNilEvent},
		{"string", "hello", framework.Event{Data: []byte("hello")}, nil},
		{"empty string", "", framework.Event{Data: []byte{}}, nil},
		{"[]byte", []byte{0xff, 0}, framework.Event{Data: []byte{0xff, 0}}, nil},
		{"RawMessage", json.RawMessage(`{"a":1}`), framework.Event{Data: []byte(`{"a":1}`)}, nil},
		{"error", errBoom, framework.Event{}, errBoom},
		{"struct", struct {
			A int `json:"a"`
		}{1}, framework.Event{Data: []byte(`{"a":1}`)}, nil},
		{"map", map[string]bool{"ok": true}, framework.Event{Data: []byte(`{"ok":true}`)}, nil},
		{"int", 42, framework.Event{Data: []byte("42")}, nil},
		{"Stringer", stringer{7}, framework.Event{Data: []byte(`{"N":7}`)}, nil},
		{"nil", nil, framework.Event{Data: []byte("null")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := streams.ToEvent(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestToEventUnsupported(t *testing.T) {
	for _, v := range []any{make(chan int), func() {}, complex(1, 2)} {
		_, err := streams.ToEvent(v)
		var ute *json.UnsupportedTypeError
		if !errors.As(err, &ute) {
			t.Errorf("ToEvent(%T) error %v, want a *json.UnsupportedTypeError", v, err)
		}
	}
}

func TestBytesCopies(t *testing.T) {
	b := []byte("abc")
	ev := streams.Bytes(b)
	raw, _ := streams.ToEvent(json.RawMessage(b))
	b[0] = 'x'
	if string(ev.Data) != "abc" || string(raw.Data) != "abc" {
		t.Fatalf("events share the caller's slice: %q, %q", ev.Data, raw.Data)
	}
}

func TestEvents(t *testing.T) {
	ev := framework.Event{ID: "9", Data: []byte("as is")}
	tests := []struct {
		name    string
		up      rxgo.Observable
		want    []string
		wantErr bool
	}{
		{"values", streams.Generate(emitAll(nil, "a", []byte("b"), 3, ev, &ev)), []string{"a", "b", "3", "as is", "as is"}, false},
		{"conversion error", streams.Generate(emitAll(nil, "a", make(chan int), "never")), []string{"a"}, true},
		{"error value", streams.Generate(emitAll(nil, "a", errBoom, "never")), []string{"a"}, true},
		{"upstream error", streams.Generate(emitAll(errBoom, "a")), []string{"a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, streams.Events(tt.up))
			items := collect(t, ch)
			var vs []any
			if tt.wantErr {
				vs, _ = splitLast(t, items)
			} else {
				vs = values(t, items)
			}
			got := make([]string, 0, len(vs))
			for _, v := range vs {
				got = append(got, string(v.(framework.Event).Data))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
