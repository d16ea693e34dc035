package session

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// TestPumpDelay: with a write delay, the events published during it
// after an idle spell share the first write; without one, the first
// event is written alone.
func TestPumpDelay(t *testing.T) {
	for _, tt := range []struct {
		delay time.Duration
		first int // events in the first write, of the 3
	}{
		// Without a delay the first event leaves alone; the next two may
		// share a write or not, as the scheduler has it.
		{0, 1},
		{10 * time.Millisecond, 3},
	} {
		synctest.Test(t, func(t *testing.T) {
			hub, err := framework.NewHub(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer hub.Close()
			sess := open(t, hub, "topic=a")
			ctx, cancel := context.WithCancel(context.Background())
			var writes []int
			done := make(chan struct{})
			go func() {
				defer close(done)
				Pump(ctx, sess, Stream[struct{}]{Max: 16, Delay: tt.delay, Write: func(items []Item) error {
					writes = append(writes, len(items))
					return nil
				}})
			}()
			synctest.Wait()
			publish(t, hub, "a", 1)
			time.Sleep(time.Millisecond) // within the delay
			publish(t, hub, "a", 2)
			time.Sleep(time.Second)
			synctest.Wait()
			cancel()
			<-done
			sum := 0
			for _, n := range writes {
				sum += n
			}
			if sum != 3 || writes[0] != tt.first {
				t.Errorf("delay %v: writes of %v events, want 3 events, %d in the first write", tt.delay, writes, tt.first)
			}
		})
	}
}
