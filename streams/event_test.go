package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

type stringer struct{ N int }

func (s stringer) String() string { return "stringer" }

// line and blob are named string and []byte types.
type (
	line string
	blob []byte
)

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
		{"nil []byte", []byte(nil), framework.Event{}, nil},
		{"RawMessage", json.RawMessage(`{"a":1}`), framework.Event{Data: []byte(`{"a":1}`)}, nil},
		{"error", errBoom, framework.Event{}, errBoom},
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

func TestToEventRefuses(t *testing.T) {
	type price struct {
		Symbol string `json:"symbol"`
	}
	tests := []struct {
		name string
		in   any
		typ  string // the type the error names
	}{
		{"struct", price{"ACME"}, "streams_test.price"},
		{"*struct", &price{"ACME"}, "*streams_test.price"},
		{"map", map[string]bool{"ok": true}, "map[string]bool"},
		{"int", 42, "int"},
		{"int64", int64(42), "int64"},
		{"float64", 1.5, "float64"},
		{"bool", true, "bool"},
		{"nil", nil, "nil"},
		{"Stringer", stringer{7}, "streams_test.stringer"},
		{"named string", line("hi"), "streams_test.line"},
		{"named []byte", blob("hi"), "streams_test.blob"},
		{"[]string", []string{"a"}, "[]string"},
		{"Gap", framework.Gap{Last: "1"}, "framework.Gap"},
		{"chan", make(chan int), "chan int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := streams.ToEvent(tt.in)
			if !errors.Is(err, streams.ErrNotEvent) {
				t.Fatalf("error %v, want ErrNotEvent", err)
			}
			var ee *streams.EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("error %#v, want an *EncodeError", err)
			}
			if ee.Type != reflect.TypeOf(tt.in) {
				t.Fatalf("Type %v, want %v", ee.Type, reflect.TypeOf(tt.in))
			}
			if !reflect.ValueOf(got).IsZero() {
				t.Fatalf("got %+v with the error, want the zero Event", got)
			}
			what := "a " + tt.typ
			switch tt.typ {
			case "nil":
				what = "nil"
			case "int", "int64":
				what = "an " + tt.typ
			}
			want := "rxstream: streams: cannot send " + what + " as an event: emit a string, []byte or framework.Event, or encode it with streams.MapJSON or framework.JSON"
			if err.Error() != want {
				t.Fatalf("message\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestToEventCopies(t *testing.T) {
	b := []byte("abc")
	ev, _ := streams.ToEvent(b)
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
		wantErr error // nil: the stream completes
	}{
		{"values", streams.Generate(emitAll(nil, "a", []byte("b"), json.RawMessage("c"), ev, &ev)), []string{"a", "b", "c", "as is", "as is"}, nil},
		{"typed", streams.Generate(func(_ context.Context, emit func(framework.Event) error) error {
			return emit(framework.Text("t"))
		}), []string{"t"}, nil},
		{"not an event", streams.Generate(emitAll(nil, "a", 3, "never")), []string{"a"}, streams.ErrNotEvent},
		{"nil", streams.Generate(emitAll(nil, "a", nil, "never")), []string{"a"}, streams.ErrNotEvent},
		{"nil *Event", streams.Generate(emitAll(nil, "a", (*framework.Event)(nil), "never")), []string{"a"}, streams.ErrNilEvent},
		{"error value", streams.Generate(emitAll(nil, "a", errBoom, "never")), []string{"a"}, errBoom},
		{"upstream error", streams.Generate(emitAll(errBoom, "a")), []string{"a"}, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, streams.Events(tt.up))
			items := collect(t, ch)
			var vs []any
			var err error
			if tt.wantErr != nil {
				vs, err = splitLast(t, items)
			} else {
				vs = values(t, items)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
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
