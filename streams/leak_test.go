package streams_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// leakCases build observables whose producers are blocked sending once the
// consumer stops reading: each of a case's stages (its producer goroutines)
// then waits to hand on an item. A case may start a feeder goroutine that
// ends when stop is closed.
var leakCases = []struct {
	name   string
	stages int
	build  func(stop <-chan struct{}, wg *sync.WaitGroup) rxgo.Observable
}{
	{"Interval", 1, func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Interval(time.Millisecond)
	}},
	{"Generate", 1, func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Generate(counter)
	}},
	{"FromChannel", 1, func(stop <-chan struct{}, wg *sync.WaitGroup) rxgo.Observable {
		return streams.FromChannel(feed(stop, wg))
	}},
	{"Map(Interval)", 2, func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Map(streams.Interval(time.Millisecond), func(n int64) string {
			return strconv.FormatInt(n, 10)
		})
	}},
	{"TryMap(Generate)", 2, func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.TryMap(streams.Generate(counter), func(s string) ([]byte, error) {
			return []byte(s), nil
		})
	}},
	{"MapJSON(Interval)", 2, func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.MapJSON(streams.Interval(time.Millisecond), func(n int64) map[string]int64 {
			return map[string]int64{"n": n}
		})
	}},
	{"Events(Generate)", 2, func(<-chan struct{}, *sync.WaitGroup) rxgo.Observable {
		return streams.Events(streams.Generate(counter))
	}},
	{"Map(Events(FromChannel))", 3, func(stop <-chan struct{}, wg *sync.WaitGroup) rxgo.Observable {
		return streams.Map(streams.Events(streams.FromChannel(feed(stop, wg))), func(ev framework.Event) framework.Event {
			return ev
		})
	}},
}

// goroutines returns the stack of every goroutine by its header line
// ("goroutine 7 [select]:").
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	all := make(map[string]string)
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		header, stack, _ := strings.Cut(g, "\n")
		id, _, _ := strings.Cut(header, " [")
		all[id] = header + "\n" + stack
	}
	return all
}

// blockedSending reports whether the goroutine whose stack g is waits to
// send: in a channel send, or in the select of rxgo's Item.SendContext.
func blockedSending(g string) bool {
	header, stack, _ := strings.Cut(g, "\n")
	if strings.Contains(header, "[chan send") {
		return true
	}
	top, _, _ := strings.Cut(stack, "\n")
	return strings.Contains(header, "[select") && strings.HasPrefix(top, "github.com/reactivex/rxgo/v2.Item.SendContext(")
}

// waitBlockedSending waits until n goroutines started since before (a
// goroutines() snapshot, by ID) are blocked sending.
func waitBlockedSending(t *testing.T, before map[string]string, n int) {
	t.Helper()
	var blocked []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		blocked = blocked[:0]
		for id, g := range goroutines() {
			if _, old := before[id]; !old && blockedSending(g) {
				blocked = append(blocked, g)
			}
		}
		if len(blocked) == n {
			return
		}
	}
	t.Fatalf("%d goroutines blocked sending, want %d:\n%s", len(blocked), n, strings.Join(blocked, "\n\n"))
}

// counter is a Generate function that emits "0", "1", "2", ... until emit
// fails.
func counter(_ context.Context, emit func(string) error) error {
	for i := 0; ; i++ {
		if err := emit(strconv.Itoa(i)); err != nil {
			return err
		}
	}
}

// feed returns a channel fed with "0", "1", "2", ... by a goroutine that
// ends when stop is closed.
func feed(stop <-chan struct{}, wg *sync.WaitGroup) <-chan string {
	src := make(chan string)
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case src <- strconv.Itoa(i):
			case <-stop:
				return
			}
		}
	})
	return src
}

// TestLeakOnCancel reads three items, waits until every stage of the
// producer is seen blocked sending the next ones, then cancels without
// reading again: every goroutine must end.
func TestLeakOnCancel(t *testing.T) {
	for _, tc := range leakCases {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			defer wg.Wait()
			defer close(stop)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // when the wait fails
			before := goroutines()
			ch := tc.build(stop, &wg).Observe(rxgo.WithContext(ctx))
			for range 3 {
				recv(t, ch)
			}
			waitBlockedSending(t, before, tc.stages)
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
