package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/streams"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var errBoom = errors.New("boom")

// patience is how long recv and collect wait before failing the test; it
// exceeds every period used in the synctest bubbles, where time is fake.
const patience = 30 * time.Second

// observe starts an observation of obs whose context ends with the test or
// with the returned cancel.
func observe(t *testing.T, obs rxgo.Observable) (<-chan rxgo.Item, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return obs.Observe(rxgo.WithContext(ctx)), cancel
}

// collect reads ch until it closes and fails the test if that takes longer
// than patience.
func collect(t *testing.T, ch <-chan rxgo.Item) []rxgo.Item {
	t.Helper()
	var items []rxgo.Item
	timeout := time.After(patience)
	for {
		select {
		case item, ok := <-ch:
			if !ok {
				return items
			}
			items = append(items, item)
		case <-timeout:
			t.Fatalf("stream did not end; got %d items so far", len(items))
		}
	}
}

// recv reads one item and fails the test if ch closes or stays silent for
// patience.
func recv(t *testing.T, ch <-chan rxgo.Item) rxgo.Item {
	t.Helper()
	select {
	case item, ok := <-ch:
		if !ok {
			t.Fatal("stream ended early")
		}
		return item
	case <-time.After(patience):
		t.Fatalf("no item within %v", patience)
	}
	panic("unreachable")
}

// values returns the values of items, failing the test on an error item.
func values(t *testing.T, items []rxgo.Item) []any {
	t.Helper()
	vs := make([]any, 0, len(items))
	for _, item := range items {
		if item.E != nil {
			t.Fatalf("unexpected error item: %v", item.E)
		}
		vs = append(vs, item.V)
	}
	return vs
}

// splitLast returns the values before the last item and the last item's
// error, failing the test if only the last item is an error.
func splitLast(t *testing.T, items []rxgo.Item) ([]any, error) {
	t.Helper()
	if len(items) == 0 {
		t.Fatal("no items")
	}
	last := items[len(items)-1]
	if last.E == nil {
		t.Fatalf("last item %v is not an error", last.V)
	}
	return values(t, items[:len(items)-1]), last.E
}

func equal(a, b []any) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestInterval(t *testing.T) {
	tests := []struct {
		name   string
		period time.Duration
		take   int
	}{
		{"one second", time.Second, 5},
		{"one millisecond", time.Millisecond, 3},
		{"ten seconds", 10 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				ch, cancel := observe(t, streams.Interval(tt.period))
				for i := range tt.take {
					item := recv(t, ch)
					if item.V != int64(i) {
						t.Fatalf("item %d = %#v, want int64(%d)", i, item.V, i)
					}
					if got, want := time.Since(start), time.Duration(i+1)*tt.period; got != want {
						t.Fatalf("item %d came after %v, want %v", i, got, want)
					}
				}
				cancel()
				synctest.Wait()
				select {
				case item, ok := <-ch:
					if ok {
						t.Fatalf("item %v after cancel", item)
					}
				default:
					t.Fatal("channel not closed after cancel")
				}
			})
		})
	}
}

func TestIntervalInvalidPeriod(t *testing.T) {
	for _, period := range []time.Duration{0, -time.Nanosecond, -time.Hour} {
		t.Run(period.String(), func(t *testing.T) {
			ch, _ := observe(t, streams.Interval(period))
			vs, err := splitLast(t, collect(t, ch))
			if len(vs) != 0 || !errors.Is(err, streams.ErrInvalidPeriod) {
				t.Fatalf("got %v then %v, want only ErrInvalidPeriod", vs, err)
			}
		})
	}
}

func TestIntervalDropsTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ch, _ := observe(t, streams.Interval(time.Second))
		recv(t, ch) // 0 at 1s
		time.Sleep(10*time.Second + 500*time.Millisecond)
		// 1 has waited since 2s and one tick is pending; then the period
		// resumes.
		want := []time.Duration{11500 * time.Millisecond, 11500 * time.Millisecond, 12 * time.Second, 13 * time.Second}
		for i, at := range want {
			item := recv(t, ch)
			if item.V != int64(i+1) {
				t.Fatalf("got %v, want %d", item.V, i+1)
			}
			if got := time.Since(start); got != at {
				t.Fatalf("value %d came at %v, want %v", i+1, got, at)
			}
		}
	})
}

func TestIntervalCold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := streams.Interval(time.Second)
		a, _ := observe(t, obs)
		recv(t, a)
		recv(t, a)
		b, _ := observe(t, obs) // starts its own sequence at 0
		if got := recv(t, b).V; got != int64(0) {
			t.Fatalf("second observer started at %v, want 0", got)
		}
		if got := recv(t, a).V; got != int64(2) {
			t.Fatalf("first observer got %v, want 2", got)
		}
	})
}

func TestFromChannel(t *testing.T) {
	itemCh := func(items ...rxgo.Item) <-chan rxgo.Item {
		ch := make(chan rxgo.Item, len(items))
		for _, item := range items {
			ch <- item
		}
		close(ch)
		return ch
	}
	intCh := func(vs ...int) <-chan int {
		ch := make(chan int, len(vs))
		for _, v := range vs {
			ch <- v
		}
		close(ch)
		return ch
	}
	tests := []struct {
		name    string
		obs     rxgo.Observable
		want    []any
		wantErr error
	}{
		{"ints", streams.FromChannel(intCh(1, 2, 3)), []any{1, 2, 3}, nil},
		{"empty", streams.FromChannel(intCh()), []any{}, nil},
		{"items pass through", streams.FromChannel(itemCh(rxgo.Of("a"), rxgo.Error(errBoom))), []any{"a"}, errBoom},
		{"errors as values", streams.FromChannel(func() <-chan error {
			ch := make(chan error, 1)
			ch <- errBoom
			close(ch)
			return ch
		}()), []any{errBoom}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, tt.obs)
			items := collect(t, ch)
			var got []any
			var err error
			if tt.wantErr != nil {
				got, err = splitLast(t, items)
			} else {
				got = values(t, items)
			}
			if !equal(got, tt.want) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFromChannelKeepsType(t *testing.T) {
	src := make(chan time.Duration, 1)
	src <- time.Second
	close(src)
	ch, _ := observe(t, streams.FromChannel(src))
	if got := values(t, collect(t, ch)); len(got) != 1 || got[0] != time.Second {
		t.Fatalf("got %#v, want [time.Second]", got)
	}
}

func TestFromChannelNilEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch, cancel := observe(t, streams.FromChannel[int](nil))
		synctest.Wait()
		cancel()
		if items := collect(t, ch); len(items) != 0 {
			t.Fatalf("got %v from a nil channel", items)
		}
	})
}

func TestFromChannelObserversSplit(t *testing.T) {
	const n = 100
	src := make(chan int)
	go func() {
		defer close(src)
		for i := range n {
			src <- i
		}
	}()
	obs := streams.FromChannel(src)
	a, _ := observe(t, obs)
	b, _ := observe(t, obs)
	var wg sync.WaitGroup
	var ia, ib []rxgo.Item
	wg.Go(func() { ia = collect(t, a) })
	wg.Go(func() { ib = collect(t, b) })
	wg.Wait()
	seen := make(map[any]bool)
	for _, v := range append(values(t, ia), values(t, ib)...) {
		if seen[v] {
			t.Fatalf("value %v delivered twice", v)
		}
		seen[v] = true
	}
	if len(seen) != n {
		t.Fatalf("observers got %d values together, want %d", len(seen), n)
	}
}

// emitAll returns a Generate function that emits vs then returns ret.
func emitAll(ret error, vs ...any) func(context.Context, func(any) error) error {
	return func(_ context.Context, emit func(any) error) error {
		for _, v := range vs {
			if err := emit(v); err != nil {
				return err
			}
		}
		return ret
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		fn      func(context.Context, func(any) error) error
		want    []any
		wantErr error // nil: the stream completes
		check   func(t *testing.T, err error)
	}{
		{name: "completes", fn: emitAll(nil, 1, "two", 3.0), want: []any{1, "two", 3.0}},
		{name: "empty", fn: emitAll(nil), want: []any{}},
		{name: "error", fn: emitAll(errBoom, 1, 2), want: []any{1, 2}, wantErr: errBoom},
		{name: "error only", fn: emitAll(errBoom), want: []any{}, wantErr: errBoom},
		{
			name: "panic value",
			fn: func(_ context.Context, emit func(any) error) error {
				_ = emit(1)
				panic("kaput")
			},
			want: []any{1},
			check: func(t *testing.T, err error) {
				var pe *streams.PanicError
				if !errors.As(err, &pe) || pe.Value != "kaput" || len(pe.Stack) == 0 {
					t.Fatalf("got %#v, want a *PanicError with value and stack", err)
				}
			},
		},
		{
			name: "panic error",
			fn: func(context.Context, func(any) error) error {
				panic(errBoom)
			},
			want: []any{},
			check: func(t *testing.T, err error) {
				var pe *streams.PanicError
				if !errors.As(err, &pe) || !errors.Is(err, errBoom) {
					t.Fatalf("got %#v, want a *PanicError wrapping errBoom", err)
				}
			},
		},
		{
			name: "concurrent emits",
			fn: func(_ context.Context, emit func(any) error) error {
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						for range 25 {
							_ = emit(1)
						}
					})
				}
				wg.Wait()
				return nil
			},
			want: func() []any {
				vs := make([]any, 100)
				for i := range vs {
					vs[i] = 1
				}
				return vs
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := observe(t, streams.Generate(tt.fn))
			items := collect(t, ch)
			var got []any
			var err error
			if tt.wantErr != nil || tt.check != nil {
				got, err = splitLast(t, items)
			} else {
				got = values(t, items)
			}
			if !equal(got, tt.want) {
				t.Fatalf("got values %v, want %v", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, err)
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGenerateEmitReturnsContextError(t *testing.T) {
	returned := make(chan error, 1)
	obs := streams.Generate(func(ctx context.Context, emit func(any) error) error {
		for i := 0; ; i++ {
			if err := emit(i); err != nil {
				returned <- err
				return errBoom // dropped: the consumer has gone
			}
		}
	})
	ch, cancel := observe(t, obs)
	recv(t, ch)
	recv(t, ch)
	cancel()
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("emit returned %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("fn did not return after cancel")
	}
	for _, item := range collect(t, ch) {
		if item.E != nil {
			t.Fatalf("error item %v after cancel", item.E)
		}
	}
}

func TestGenerateEmitAfterReturn(t *testing.T) {
	var late func(any) error
	ch, _ := observe(t, streams.Generate(func(_ context.Context, emit func(any) error) error {
		late = emit
		return nil
	}))
	collect(t, ch)
	if err := late("too late"); !errors.Is(err, streams.ErrEmitAfterReturn) {
		t.Fatalf("late emit returned %v, want ErrEmitAfterReturn", err)
	}
}

func TestGenerateCold(t *testing.T) {
	calls := 0
	obs := streams.Generate(func(_ context.Context, emit func(any) error) error {
		calls++
		return emit(calls)
	})
	for want := 1; want <= 2; want++ {
		ch, _ := observe(t, obs)
		if got := values(t, collect(t, ch)); !equal(got, []any{want}) {
			t.Fatalf("observation %d got %v", want, got)
		}
	}
}

func TestNilArgumentsPanic(t *testing.T) {
	tests := map[string]func(){
		"Generate":    func() { streams.Generate[int](nil) },
		"Map obs":     func() { streams.Map(nil, func(s string) string { return s }) },
		"Map fn":      func() { streams.Map[int64, string](streams.Interval(time.Second), nil) },
		"TryMap obs":  func() { streams.TryMap(nil, func(s string) (string, error) { return s, nil }) },
		"TryMap fn":   func() { streams.TryMap[int64, string](streams.Interval(time.Second), nil) },
		"MapJSON obs": func() { streams.MapJSON(nil, func(s string) string { return s }) },
		"MapJSON fn":  func() { streams.MapJSON[int64, int64](streams.Interval(time.Second), nil) },
		"Events":      func() { streams.Events(nil) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "rxstream: streams: "+strings.Fields(name)[0]+" with nil") {
					t.Fatalf("panic %q, want one naming %s", msg, strings.Fields(name)[0])
				}
			}()
			f()
		})
	}
}

func TestGenerateTyped(t *testing.T) {
	type point struct{ X, Y int }
	t.Run("string", func(t *testing.T) {
		obs := streams.Generate(func(_ context.Context, emit func(string) error) error {
			for _, s := range []string{"a", "b"} {
				if err := emit(s); err != nil {
					return err
				}
			}
			return nil
		})
		ch, _ := observe(t, obs)
		if got := values(t, collect(t, ch)); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Fatalf("got %#v, want [a b]", got)
		}
	})
	t.Run("struct", func(t *testing.T) {
		obs := streams.Generate(func(_ context.Context, emit func(point) error) error {
			return emit(point{1, 2})
		})
		ch, _ := observe(t, obs)
		if got := values(t, collect(t, ch)); len(got) != 1 || got[0] != (point{1, 2}) {
			t.Fatalf("got %#v, want [point{1, 2}]", got)
		}
	})
	t.Run("late emit", func(t *testing.T) {
		var late func(point) error
		ch, _ := observe(t, streams.Generate(func(_ context.Context, emit func(point) error) error {
			late = emit
			return nil
		}))
		collect(t, ch)
		if err := late(point{}); !errors.Is(err, streams.ErrEmitAfterReturn) {
			t.Fatalf("late emit returned %v, want ErrEmitAfterReturn", err)
		}
	})
}
