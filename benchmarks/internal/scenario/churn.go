package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// ChurnCase is the configuration of the churn scenario.
type ChurnCase struct {
	Subscribers int // stable readers
	Churners    int // clients that connect, read a while and leave, over and over
	Rate        int
	Duration    time.Duration
}

// Churn runs a paced stream to stable readers while other clients come and
// go, then checks that the server's goroutines and memory return to where
// they were.
func Churn(cc ChurnCase) Scenario {
	return Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "churn",
			Title: "Churn",
			About: fmt.Sprintf("%d stable readers follow a paced stream (%d/s for %v) while %d clients each connect, "+
				"read for 10-60 ms and disconnect, over and over. Goroutines, RSS and the runtime's HeapInuse (after GC) "+
				"are compared before the churn and once the churners are gone.", cc.Subscribers, cc.Rate, cc.Duration, cc.Churners),
			Key: "goroutines_delta",
			Metrics: []report.MetricSpec{
				{Key: "churn_per_s", Title: "connects/s"},
				{Key: "goroutines_delta", Title: "goroutines after-before", Better: report.Lower},
				{Key: "rss_delta_mib", Title: "RSS after-before", Unit: "MiB", Better: report.Lower},
				{Key: "heap_delta_kib", Title: "heap in use after-before", Unit: "KiB", Better: report.Lower},
				{Key: "lost", Title: "stable readers' lost", Better: report.Lower},
				mDup, mOOO, mP99,
				{Key: "errors", Title: "churn errors", Better: report.Lower},
			},
		},
		For: transports(servers.SSE, servers.LongPoll, servers.WebSocket),
		Cases: []Case{{
			Name:   fmt.Sprintf("N=%d churn=%d", cc.Subscribers, cc.Churners),
			Params: map[string]float64{"N": float64(cc.Subscribers)},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runChurn(ctx, env, p, c, cc)
			},
		}},
	}
}

func runChurn(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, cc ChurnCase) (Sample, error) {
	s := newSample()
	events := int(cc.Duration.Seconds() * float64(cc.Rate))
	t := &load.Tracker{Events: events, Latency: true}
	g := newGroup(ctx, env, p, c, cc.Subscribers+cc.Churners, load.Options{})
	defer g.stop()
	stream := c.Transport != servers.LongPoll
	if _, err := g.ramp(t, cc.Subscribers, 0, stream); err != nil {
		return s, err
	}
	if err := warm(ctx, p, g.subs, 20*time.Second); err != nil {
		return s, err
	}
	rss0, st0, err := settleMem(ctx, p, 200*time.Millisecond)
	if err != nil {
		return s, err
	}

	var churnC load.Counters
	var junk load.Tracker // churners' deliveries are not checked
	cctx, stopChurn := context.WithCancel(ctx)
	var wg sync.WaitGroup
	client := load.ClientFor(c.Transport)
	for range cc.Churners {
		wg.Go(func() {
			for cctx.Err() == nil {
				hold := 10*time.Millisecond + rand.N(50*time.Millisecond)
				hctx, cancel := context.WithTimeout(cctx, hold)
				client(hctx, g.d, p.Addr, junk.NewSubDetached(), &churnC, load.Options{Once: true})
				cancel()
			}
		})
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, cc.Duration+30*time.Second)
	_, err = p.Publish(pctx, 1, events, 64, cc.Rate)
	cancel()
	stopChurn()
	wg.Wait()
	churnTime := time.Since(start)
	if err != nil {
		return s, err
	}
	if _, ok := waitAll(ctx, t, len(g.subs), 5*time.Second); !ok {
		s.note("the stable readers did not get every event within 5 s")
	}
	// The stable readers stay in flight (a long-poll waits in its handler).
	if _, err := p.WaitInflight(ctx, int64(cc.Subscribers), true, 10*time.Second); err != nil {
		s.note("churned requests still open: %v", err)
	}
	rss1, st1, err := settleMem(ctx, p, 500*time.Millisecond)
	if err != nil {
		return s, err
	}
	g.stop()
	tally := t.Tally()
	s.Values["churn_per_s"] = float64(churnC.Connects.Load()) / churnTime.Seconds()
	s.Values["goroutines_delta"] = float64(st1.Goroutines - st0.Goroutines)
	s.Values["rss_delta_mib"] = float64(rss1-rss0) / (1 << 20)
	s.Values["heap_delta_kib"] = (float64(st1.HeapInuse) - float64(st0.HeapInuse)) / 1024
	s.Values["errors"] = float64(churnC.Errors.Load())
	tallyValues(&s, tally)
	if h := tally.Latency; h != nil && h.TotalCount() > 0 {
		s.Values["p99_ms"] = float64(h.ValueAtQuantile(99)) / 1000
	}
	if e := churnC.FirstError(); e != "" {
		s.note("first churn error: %s", e)
	}
	return s, nil
}
