package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func double(n int) string { return strconv.Itoa(2 * n) }

// ints returns a Generate function that emits the ints vs, then returns ret.
func ints(ret error, vs ...int) func(context.Context, func(int) error) error {
	return func(_ context.Context, emit func(int) error) error {
		for _, v := range vs {
			if err := emit(v); err != nil {
				return err
			}
		}
		return ret
	}
}

// checkItems checks that items are the values want, followed by an error
// item when wantErr is not nil. Values must have the dynamic types of want
// (a line is not a string). errors.Is must hold, or, for a
// *streams.PanicError or *streams.TypeError target, errors.As.
func checkItems(t *testing.T, items []rxgo.Item, want []any, wantErr error) error {
	t.Helper()
	var got []any
	var err error
	if wantErr == nil {
		got = values(t, items)
	} else {
		got, err = splitLast(t, items)
		switch wantErr.(type) {
		case *streams.PanicError:
			var pe *streams.PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("got error %v, want a *PanicError", err)
			}
		case *streams.TypeError:
			var te *streams.TypeError
			if !errors.As(err, &te) || !errors.Is(err, streams.ErrType) {
				t.Fatalf("got error %v, want a *TypeError wrapping ErrType", err)
			}
		default:
			if !errors.Is(err, wantErr) {
				t.Fatalf("got error %v, want %v", err, wantErr)
			}
		}
	}
	if !reflect.DeepEqual(got, want) { // also compares dynamic types
		t.Fatalf("got %#v, want %#v", got, want)
	}
	return err
}

func TestMap(t *testing.T) {
	ev := framework.Event{ID: "1", Name: "n", Data: []byte("d")}
	tests := []struct {
		name    string
		obs     rxgo.Observable
		want    []any
		wantErr error
	}{
		{"values", streams.Map(streams.Generate(ints(nil, 1, 2, 3)), double), []any{"2", "4", "6"}, nil},
		{"empty", streams.Map(streams.Generate(ints(nil)), double), []any{}, nil},
		{"upstream error", streams.Map(streams.Generate(ints(errBoom, 1)), double), []any{"2"}, errBoom},
		{"fn panic", streams.Map(streams.Generate(ints(nil, 1, 2, 3)), func(n int) string {
			if n == 2 {
				panic("kaput")
			}
			return double(n)
		}), []any{"2"}, &streams.PanicError{}},
		{"wrong type", streams.Map(streams.Generate(emitAll(nil, 1, "x", 3)), double), []any{"2"}, &streams.TypeError{}},
		{"chained", streams.Map(streams.Map(streams.Generate(ints(nil, 1, 2)), double), func(s string) string {
			return s + s
		}), []any{"22", "44"}, nil},
		{"named string", streams.Map(streams.Generate(ints(nil, 1)), func(n int) line {
			return line(double(n))
		}), []any{"2"}, nil},
		{"named []byte", streams.Map(streams.Generate(ints(nil, 1)), func(n int) blob {
			return blob(double(n))
		}), []any{[]byte("2")}, nil},
		{"[]byte", streams.Map(streams.Generate(ints(nil, 1)), func(n int) []byte {
			return []byte(double(n))
		}), []any{[]byte("2")}, nil},
		{"Event", streams.Map(streams.Generate(ints(nil, 1)), func(int) framework.Event {
			return ev
		}), []any{ev}, nil},
		{"any takes nil", streams.Map(streams.Generate(emitAll(nil, nil, 1)), func(v any) string {
			return fmt.Sprint(v)
		}), []any{"<nil>", "1"}, nil},
		{"interface", streams.Map(streams.Generate(emitAll(nil, stringer{1}, time.Second)), fmt.Stringer.String), []any{"stringer", "1s"}, nil},
		{"interface refuses", streams.Map(streams.Generate(emitAll(nil, stringer{1}, 2)), fmt.Stringer.String), []any{"stringer"}, &streams.TypeError{}},
		{"pointer refuses nil", streams.Map(streams.Generate(emitAll(nil, nil)), func(*int) string { return "" }), []any{}, &streams.TypeError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, tt.obs)
			checkItems(t, collect(t, ch), tt.want, tt.wantErr)
		})
	}
}

// TestMapNamedTypesReachTransports checks that what Map emits for named
// string and []byte results is what ToEvent, which every transport uses,
// accepts.
func TestMapNamedTypesReachTransports(t *testing.T) {
	for name, obs := range map[string]rxgo.Observable{
		"line": streams.Map(streams.Generate(ints(nil, 7)), func(n int) line { return line(strconv.Itoa(n)) }),
		"blob": streams.Map(streams.Generate(ints(nil, 7)), func(n int) blob { return blob(strconv.Itoa(n)) }),
	} {
		t.Run(name, func(t *testing.T) {
			ch, _ := observe(t, obs)
			vs := values(t, collect(t, ch))
			if len(vs) != 1 {
				t.Fatalf("got %v, want one value", vs)
			}
			ev, err := streams.ToEvent(vs[0])
			if err != nil || string(ev.Data) != "7" {
				t.Fatalf("ToEvent(%#v) = %+v, %v", vs[0], ev, err)
			}
		})
	}
}

// TestWrongTypeEndsStream checks for every typed operator that a value of
// the wrong type ends the stream with a *TypeError naming the operator and
// both types, stops the upstream although the downstream context is live,
// and leaves no goroutine behind.
func TestWrongTypeEndsStream(t *testing.T) {
	tests := []struct {
		op    string
		build func(up rxgo.Observable) rxgo.Observable
	}{
		{"Map", func(up rxgo.Observable) rxgo.Observable {
			return streams.Map(up, func(n int64) string { return strconv.FormatInt(n, 10) })
		}},
		{"TryMap", func(up rxgo.Observable) rxgo.Observable {
			return streams.TryMap(up, func(n int64) (string, error) { return strconv.FormatInt(n, 10), nil })
		}},
		{"MapJSON", func(up rxgo.Observable) rxgo.Observable {
			return streams.MapJSON(up, func(n int64) int64 { return n })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			upstreamDone := make(chan error, 1)
			up := streams.Generate(func(_ context.Context, emit func(any) error) error {
				if err := emit(int64(1)); err != nil {
					return err
				}
				for {
					if err := emit("two"); err != nil {
						upstreamDone <- err
						return err
					}
				}
			})
			ch, _ := observe(t, tt.build(up))
			items := collect(t, ch)
			if len(items) != 2 || items[0].E != nil {
				t.Fatalf("got %v, want one value then the error", items)
			}
			err := items[1].E
			var te *streams.TypeError
			if !errors.As(err, &te) || !errors.Is(err, streams.ErrType) {
				t.Fatalf("got %#v, want a *TypeError wrapping ErrType", err)
			}
			if te.Op != tt.op || te.Want != reflect.TypeFor[int64]() || te.Got != reflect.TypeFor[string]() {
				t.Fatalf("got %+v, want %s, int64, string", te, tt.op)
			}
			if want := "rxstream: streams: " + tt.op + " got string, want int64"; err.Error() != want {
				t.Fatalf("message %q, want %q", err, want)
			}
			select {
			case err := <-upstreamDone:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("upstream emit returned %v, want context.Canceled", err)
				}
			case <-time.After(patience):
				t.Fatal("upstream still running after the type error")
			}
		})
	}
}

// TestMapIntervalInt checks the trap Interval's doc names: its values are
// int64, so a func(int) fails at the first one.
func TestMapIntervalInt(t *testing.T) {
	ch, _ := observe(t, streams.Map(streams.Interval(time.Millisecond), func(n int) string { return "" }))
	err := checkItems(t, collect(t, ch), []any{}, &streams.TypeError{})
	if want := "rxstream: streams: Map got int64, want int"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	var te *streams.TypeError
	errors.As(err, &te)
	if te.Got == nil || te.Want == nil {
		t.Fatalf("types missing: %+v", te)
	}
}

func TestTypeErrorNil(t *testing.T) {
	err := &streams.TypeError{Op: "Map", Want: reflect.TypeFor[string]()}
	if want := "rxstream: streams: Map got nil, want string"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

func TestTryMap(t *testing.T) {
	half := func(n int) (string, error) {
		if n%2 != 0 {
			return "ignored", fmt.Errorf("odd %d: %w", n, errBoom)
		}
		return strconv.Itoa(n / 2), nil
	}
	tests := []struct {
		name    string
		obs     rxgo.Observable
		want    []any
		wantErr error
	}{
		{"values", streams.TryMap(streams.Generate(ints(nil, 2, 4)), half), []any{"1", "2"}, nil},
		{"fn error", streams.TryMap(streams.Generate(ints(nil, 2, 3, 4)), half), []any{"1"}, errBoom},
		{"upstream error", streams.TryMap(streams.Generate(ints(errBoom, 2)), half), []any{"1"}, errBoom},
		{"fn panic", streams.TryMap(streams.Generate(ints(nil, 2)), func(int) (string, error) {
			panic(errBoom)
		}), []any{}, &streams.PanicError{}},
		{"wrong type", streams.TryMap(streams.Generate(emitAll(nil, 2, "x")), half), []any{"1"}, &streams.TypeError{}},
		{"named []byte", streams.TryMap(streams.Generate(ints(nil, 2)), func(n int) (blob, error) {
			return blob("b"), nil
		}), []any{[]byte("b")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, tt.obs)
			checkItems(t, collect(t, ch), tt.want, tt.wantErr)
		})
	}
}

// TestMapErrorStopsUpstream checks that an error in fn cancels the upstream
// observation although the downstream context is still live.
func TestMapErrorStopsUpstream(t *testing.T) {
	upstreamDone := make(chan error, 1)
	up := streams.Generate(func(ctx context.Context, emit func(int) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				upstreamDone <- err
				return err
			}
		}
	})
	obs := streams.TryMap(up, func(n int) (string, error) {
		if n == 3 {
			return "", errBoom
		}
		return strconv.Itoa(n), nil
	})
	ch, _ := observe(t, obs)
	checkItems(t, collect(t, ch), []any{"0", "1", "2"}, errBoom)
	select {
	case err := <-upstreamDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("upstream emit returned %v, want context.Canceled", err)
		}
	case <-time.After(patience):
		t.Fatal("upstream still running after Map ended")
	}
}

// failing is a value whose MarshalJSON fails.
type failing struct{}

func (failing) MarshalJSON() ([]byte, error) { return nil, errBoom }

func TestMapJSON(t *testing.T) {
	type quote struct {
		Symbol string  `json:"symbol"`
		Value  float64 `json:"value"`
	}
	type withChan struct{ C chan int }
	event := func(data string) framework.Event { return framework.Event{Data: []byte(data)} }
	tests := []struct {
		name     string
		obs      rxgo.Observable
		want     []any
		wantErr  error  // nil: the stream completes
		wantType string // the type the error names
	}{
		{"struct", streams.MapJSON(streams.Generate(ints(nil, 1, 2)), func(n int) quote {
			return quote{"ACME", float64(n) / 2}
		}), []any{event(`{"symbol":"ACME","value":0.5}`), event(`{"symbol":"ACME","value":1}`)}, nil, ""},
		{"map", streams.MapJSON(streams.Generate(ints(nil, 1)), func(n int) map[string]int {
			return map[string]int{"n": n}
		}), []any{event(`{"n":1}`)}, nil, ""},
		{"string", streams.MapJSON(streams.Generate(ints(nil, 1)), strconv.Itoa), []any{event(`"1"`)}, nil, ""},
		{"nil", streams.MapJSON(streams.Generate(ints(nil, 1)), func(int) any { return nil }), []any{event(`null`)}, nil, ""},
		{"chan", streams.MapJSON(streams.Generate(ints(nil, 1)), func(int) chan int {
			return make(chan int)
		}), []any{}, &json.UnsupportedTypeError{}, "chan int"},
		{"chan field", streams.MapJSON(streams.Generate(ints(nil, 1)), func(int) withChan {
			return withChan{}
		}), []any{}, &json.UnsupportedTypeError{}, "streams_test.withChan"},
		{"chan in any", streams.MapJSON(streams.Generate(ints(nil, 1)), func(int) any {
			return make(chan string)
		}), []any{}, &json.UnsupportedTypeError{}, "chan string"},
		{"MarshalJSON error", streams.MapJSON(streams.Generate(ints(nil, 1, 2)), func(int) failing {
			return failing{}
		}), []any{}, errBoom, "streams_test.failing"},
		{"upstream error", streams.MapJSON(streams.Generate(ints(errBoom, 1)), func(n int) int { return n }), []any{event("1")}, errBoom, ""},
		{"wrong type", streams.MapJSON(streams.Generate(emitAll(nil, "x")), func(n int) int { return n }), []any{}, &streams.TypeError{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, tt.obs)
			items := collect(t, ch)
			if _, unsupported := tt.wantErr.(*json.UnsupportedTypeError); unsupported {
				got, err := splitLast(t, items)
				var ute *json.UnsupportedTypeError
				if len(got) != 0 || !errors.As(err, &ute) {
					t.Fatalf("got %v then %v, want only a *json.UnsupportedTypeError", got, err)
				}
				checkNamesType(t, err, tt.wantType)
				return
			}
			err := checkItems(t, items, tt.want, tt.wantErr)
			if tt.wantType != "" {
				checkNamesType(t, err, tt.wantType)
			}
		})
	}
}

func checkNamesType(t *testing.T, err error, typ string) {
	t.Helper()
	if prefix := "rxstream: streams: MapJSON of " + typ + ": "; !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("message %q, want it to start with %q", err, prefix)
	}
}
