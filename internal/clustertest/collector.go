package clustertest

import (
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// Collector gathers what a broker's Follow delivers to its Fn. Recs and
// Err are read under Mu, or once the follow stopped.
type Collector struct {
	Mu   sync.Mutex
	Recs []framework.Record
	Err  error
	news chan struct{}
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector { return &Collector{news: make(chan struct{}, 1)} }

// Fn is the function to Follow with. It panics on a call after an error,
// which the Broker contract forbids.
func (c *Collector) Fn(r framework.Record, err error) {
	c.Mu.Lock()
	if err != nil {
		if c.Err != nil {
			panic("fn called after an error")
		}
		c.Err = err
	} else {
		if c.Err != nil {
			panic("record after an error")
		}
		c.Recs = append(c.Recs, r)
	}
	c.Mu.Unlock()
	select {
	case c.news <- struct{}{}:
	default:
	}
}

// Wait waits up to 10 s until cond holds on the records and error
// gathered.
func (c *Collector) Wait(t *testing.T, what string, cond func([]framework.Record, error) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.Mu.Lock()
		ok := cond(c.Recs, c.Err)
		c.Mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.news:
		case <-timeout:
			c.Mu.Lock()
			defer c.Mu.Unlock()
			t.Fatalf("timed out waiting for %s: %d records, err %v", what, len(c.Recs), c.Err)
		}
	}
}
