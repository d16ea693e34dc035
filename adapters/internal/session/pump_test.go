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
		delay  time.Duration
		writes []int // events per write
	}{
		{0, []int{1, 2}},
		{10 * time.Millisecond, []int{3}},
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
			if len(writes) != len(tt.writes) || writes[0] != tt.writes[0] {
				t.Errorf("delay %v: writes of %v events, want %v", tt.delay, writes, tt.writes)
			}
		})
	}
}
