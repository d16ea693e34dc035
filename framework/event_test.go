package framework_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rxstream/rxstream/framework"
)

func TestEventConstructors(t *testing.T) {
	mustJSON := func(v any) framework.Event {
		ev, err := framework.JSON(v)
		if err != nil {
			t.Fatalf("JSON(%#v): %v", v, err)
		}
		return ev
	}
	tests := []struct {
		name string
		got  framework.Event
		want string
		text bool
	}{
		{"Text", framework.Text("hi"), "hi", true},
		{"Text empty", framework.Text(""), "", true},
		{"Bytes", framework.Bytes([]byte{0xff, 0}), "\xff\x00", false},
		{"Bytes nil", framework.Bytes(nil), "", true},
		{"JSON struct", mustJSON(struct {
			A int `json:"a"`
		}{1}), `{"a":1}`, true},
		{"JSON map", mustJSON(map[string]bool{"ok": true}), `{"ok":true}`, true},
		{"JSON string", mustJSON("hi"), `"hi"`, true},
		{"JSON nil", mustJSON(nil), "null", true},
		{"JSON RawMessage", mustJSON(json.RawMessage(`[1, 2]`)), `[1,2]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.got
			if string(ev.Data) != tt.want {
				t.Fatalf("data %q, want %q", ev.Data, tt.want)
			}
			if ev.ID != "" || ev.Name != "" || ev.Retry != 0 {
				t.Fatalf("got %+v, want data only", ev)
			}
			if ev.Text() != tt.text {
				t.Fatalf("Text() = %v, want %v", ev.Text(), tt.text)
			}
		})
	}
}

func TestBytesCopies(t *testing.T) {
	b := []byte("abc")
	ev := framework.Bytes(b)
	b[0] = 'x'
	if string(ev.Data) != "abc" {
		t.Fatalf("event shares the caller's slice: %q", ev.Data)
	}
}

func TestJSONError(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"chan", make(chan int)},
		{"func", func() {}},
		{"complex", complex(1, 2)},
		{"field", struct{ C chan int }{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := framework.JSON(tt.v)
			var ute *json.UnsupportedTypeError
			if !errors.As(err, &ute) {
				t.Fatalf("error %v, want a *json.UnsupportedTypeError", err)
			}
			if !strings.HasPrefix(err.Error(), "rxstream: JSON event: json: ") {
				t.Fatalf("error %q lacks its context", err)
			}
			if fmt.Sprintf("%+v", ev) != fmt.Sprintf("%+v", framework.Event{}) {
				t.Fatalf("got %+v with the error, want the zero Event", ev)
			}
		})
	}
}
