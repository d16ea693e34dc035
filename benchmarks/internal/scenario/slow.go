package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// slowGrace is how long the readers get after the last event is due.
const slowGrace = 3 * time.Second

// slowSendBuffer is the server's socket send buffer in this scenario, so
// that the stalled subscriber backs up within a second rather than after
// the megabytes the kernel's autotuning would buffer.
const slowSendBuffer = 64 << 10

// SlowCase is the configuration of the slow-consumer scenario.
type SlowCase struct {
	Subscribers int
	Rate        int
	Duration    time.Duration
	Size        int
}

// Slow runs, for each case, a paced stream to N readers and one
// subscriber that never reads.
func Slow(cases ...SlowCase) Scenario {
	s := Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "slow",
			Title: "Slow consumer",
			About: fmt.Sprintf("N readers and one subscriber that stops reading (a 4 KiB receive buffer, never read) while "+
				"the server publishes events at the case's size and rate; the server's sockets have a fixed %d KiB send buffer "+
				"so the stalled one backs up within a second. The readers must get everything, at the same pace; "+
				"the run gives up %v after the last publish is due. Peak RSS is sampled every 50 ms, above the "+
				"RSS before publishing.", slowSendBuffer>>10, slowGrace),
			Key: "deliveries_per_s",
			Metrics: []report.MetricSpec{
				{Key: "deliveries_per_s", Title: "others' deliveries/s", Better: report.Higher},
				{Key: "p99_ms", Title: "others' p99", Unit: "ms", Better: report.Lower},
				{Key: "lost", Title: "others' lost", Better: report.Lower},
				mDup, mOOO,
				{Key: "rss_peak_mib", Title: "server RSS growth", Unit: "MiB", Better: report.Lower},
			},
		},
		For: transports(servers.SSE, servers.WebSocket),
	}
	for _, sc := range cases {
		s.Cases = append(s.Cases, Case{
			Name:      fmt.Sprintf("N=%d+1 %dB %d/s", sc.Subscribers, sc.Size, sc.Rate),
			Params:    map[string]float64{"N": float64(sc.Subscribers), "rate": float64(sc.Rate)},
			ServerEnv: []string{fmt.Sprintf("%s=%d", servers.EnvSendBuffer, slowSendBuffer)},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runSlow(ctx, env, p, c, sc)
			},
		})
	}
	return s
}

func runSlow(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, sc SlowCase) (Sample, error) {
	s := newSample()
	events := int(sc.Duration.Seconds() * float64(sc.Rate))
	t := &load.Tracker{Events: events, Latency: true}
	g := newGroup(ctx, env, p, c, sc.Subscribers+1, load.Options{})
	defer g.stop()
	staller, err := load.Stall(ctx, g.d, p.Addr, c.Transport == servers.WebSocket)
	if err != nil {
		return s, err
	}
	defer staller.Close()
	if _, err := g.ramp(t, sc.Subscribers, 1, true); err != nil {
		return s, err
	}
	if err := warm(ctx, p, g.subs, 20*time.Second); err != nil {
		return s, err
	}
	rss0, _, err := settle(ctx, p, 0)
	if err != nil {
		return s, err
	}
	var peak int64
	var wg sync.WaitGroup
	sctx, stopSampling := context.WithCancel(ctx)
	wg.Go(func() {
		for sctx.Err() == nil {
			if r, err := p.RSS(); err == nil {
				peak = max(peak, r)
			}
			select {
			case <-sctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, sc.Duration+slowGrace)
	_, perr := p.Publish(pctx, 1, events, sc.Size, sc.Rate)
	cancel()
	if perr != nil {
		s.note("the publisher was held up: %v", perr)
	}
	end, ok := waitAll(ctx, t, len(g.subs), time.Until(start.Add(sc.Duration+slowGrace)))
	if !ok {
		s.note("the readers did not get every event within %v of the last one due", slowGrace)
	}
	stopSampling()
	wg.Wait()
	g.stop()
	tally := t.Tally()
	s.Values["deliveries_per_s"] = float64(tally.Delivered) / end.Sub(start).Seconds()
	s.Values["rss_peak_mib"] = float64(peak-rss0) / (1 << 20)
	tallyValues(&s, tally)
	if h := tally.Latency; h != nil && h.TotalCount() > 0 {
		s.Values["p99_ms"] = float64(h.ValueAtQuantile(99)) / 1000
	}
	return s, nil
}
