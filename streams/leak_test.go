package streams_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/streams"
)

// leakCases build observables whose producers are blocked sending once the
// consumer stops reading. A case may start a feeder goroutine that ends when
// stop is closed.
var leakCases = []struct {
	name  string
	build func(stop <-chan struct{}, wg *sync.WaitGroup) rxgo.Observable
}{
	{"Interval", func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Interval(time.Millisecond)
	}},
	{"Generate", func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Generate(counter)
	}},
	{"FromChannel", func(stop <-chan struct{}, wg *sync.WaitGroup) rxgo.Observable {
		return streams.FromChannel(feed(stop, wg))
	}},
	{"Map(Interval)", func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Map(streams.Interval(time.Millisecond), func(v any) (any, error) {
			return streams.Text(fmt.Sprint(v)), nil
		})
	}},
	{"Events(Generate)", func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Events(streams.Generate(counter))
	}},
	{"Map(Events(FromChannel))", func(stop <-chan struct{}, wg *sync.WaitGroup) rxgo.Observable {
		return streams.Map(streams.Events(streams.FromChannel(feed(stop, wg))), func(v any) (any, error) {
			return v, nil
		})
	}},
}

// counter is a Generate function that emits 0, 1, 2, ... until emit fails.
func counter(_ context.Context, emit func(any) error) error {
	for i := 0; ; i++ {
		if err := emit(i); err != nil {
			return err
		}
	}
}

// feed returns a channel fed with 0, 1, 2, ... by a goroutine that ends when
// stop is closed.
func feed(stop <-chan struct{}, wg *sync.WaitGroup) <-chan int {
	src := make(chan int)
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case src <- i:
			case <-stop:
				return
			}
		}
	})
	return src
}

// TestLeakOnCancel reads three items, lets the producers block sending the
// next ones, then cancels without reading again: every goroutine must end.
func TestLeakOnCancel(t *testing.T) {
	for _, tc := range leakCases {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			defer wg.Wait()
			defer close(stop)

			ctx, cancel := context.WithCancel(context.Background())
			ch := tc.build(stop, &wg).Observe(rxgo.WithContext(ctx))
			for range 3 {
				recv(t, ch)
			}
			time.Sleep(3 * time.Millisecond) // the producer ticks and blocks sending
			cancel()
		})
	}
}

// TestLeakOnCancelSynctest is TestLeakOnCancel in a bubble: synctest.Wait
// makes sure the producers are blocked sending before the cancel, and the
// bubble fails the test if any goroutine outlives it.
func TestLeakOnCancelSynctest(t *testing.T) {
	for _, tc := range leakCases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				defer wg.Wait()
				defer close(stop)

				ctx, cancel := context.WithCancel(t.Context())
				ch := tc.build(stop, &wg).Observe(rxgo.WithContext(ctx))
				for range 3 {
					recv(t, ch)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				cancel()
				synctest.Wait()
				select {
				case _, ok := <-ch:
					if ok {
						t.Fatal("item delivered after cancel")
					}
				default:
					t.Fatal("channel not closed after cancel")
				}
			})
		})
	}
}
