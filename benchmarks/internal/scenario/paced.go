package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// PacedCase is one configuration of a paced run.
type PacedCase struct {
	Subscribers int
	Rate        int // events per second
	Duration    time.Duration
	Size        int
	// PollInterval is the short-poll's interval.
	PollInterval time.Duration
}

func (pc PacedCase) events() int { return max(1, int(pc.Duration.Seconds()*float64(pc.Rate))) }

func (pc PacedCase) name() string {
	return fmt.Sprintf("N=%d %d/s", pc.Subscribers, pc.Rate)
}

// Paced is the open-loop latency scenario on the streaming transports.
func Paced(cases []PacedCase) Scenario {
	s := Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "paced",
			Title: "Paced latency (open loop)",
			About: "The server publishes at a fixed rate; every event carries the time it was due, not the time it " +
				"went out, so a publisher or server that falls behind shows up in the latency (no coordinated " +
				"omission). Latency = receipt - due time, over every delivery, in an HdrHistogram.",
			Key:     "p99_ms",
			Metrics: []report.MetricSpec{mP50, mP90, mP99, mP999, mMax, mLost, mDup, mOOO, {Key: "publisher_lag_ms", Title: "publisher lag max", Unit: "ms", Better: report.Lower}},
		},
		For: transports(servers.SSE, servers.WebSocket),
	}
	for _, pc := range cases {
		s.Cases = append(s.Cases, Case{
			Name:   pc.name(),
			Params: map[string]float64{"N": float64(pc.Subscribers), "rate": float64(pc.Rate)},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runPaced(ctx, env, p, c, pc)
			},
		})
	}
	return s
}

// Poll is the paced scenario on the poll transports, with request rates.
func Poll(cases []PacedCase) Scenario {
	s := Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "poll",
			Title: "Long-poll and short-poll under a broadcast rate",
			About: "N pollers follow one topic while the server publishes at a fixed rate. Staleness = receipt - due " +
				"time (for short-polls it includes up to one poll interval). Requests/s counts every poll.",
			Key: "deliveries_per_s",
			Metrics: []report.MetricSpec{
				{Key: "requests_per_s", Title: "requests/s"},
				{Key: "deliveries_per_s", Title: "deliveries/s", Better: report.Higher},
				{Key: "p50_ms", Title: "staleness p50", Unit: "ms", Better: report.Lower},
				{Key: "p99_ms", Title: "staleness p99", Unit: "ms", Better: report.Lower},
				{Key: "max_ms", Title: "staleness max", Unit: "ms", Better: report.Lower},
				mLost, mDup, mOOO,
				{Key: "errors", Title: "errors", Better: report.Lower},
			},
		},
		For: transports(servers.LongPoll, servers.ShortPoll),
	}
	for _, pc := range cases {
		s.Cases = append(s.Cases, Case{
			Name:   pc.name(),
			Params: map[string]float64{"N": float64(pc.Subscribers), "rate": float64(pc.Rate)},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runPaced(ctx, env, p, c, pc)
			},
		})
	}
	return s
}

func runPaced(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, pc PacedCase) (Sample, error) {
	s := newSample()
	events := pc.events()
	t := &load.Tracker{Events: events, Latency: true}
	g := newGroup(ctx, env, p, c, pc.Subscribers, load.Options{PollInterval: pc.PollInterval})
	defer g.stop()
	wait := c.Transport == servers.SSE || c.Transport == servers.WebSocket
	if _, err := g.ramp(t, pc.Subscribers, 0, wait); err != nil {
		return s, err
	}
	if err := warm(ctx, p, g.subs, 20*time.Second); err != nil {
		return s, err
	}
	req0 := g.C.Requests.Load()
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, pc.Duration+30*time.Second)
	res, err := p.Publish(pctx, 1, events, max(pc.Size, 64), pc.Rate)
	cancel()
	if err != nil {
		return s, err
	}
	grace := 5 * time.Second
	end, ok := waitAll(ctx, t, len(g.subs), grace)
	if !ok {
		s.note("not every subscriber got every event within %v of the last publish", grace)
	}
	req := g.C.Requests.Load() - req0
	g.stop()
	tally := t.Tally()
	el := end.Sub(start).Seconds()
	s.Values["publisher_lag_ms"] = float64(res.MaxLagNs) / 1e6
	s.Values["deliveries_per_s"] = float64(tally.Delivered) / el
	s.Values["requests_per_s"] = float64(req) / el
	s.Values["errors"] = float64(g.C.Errors.Load())
	tallyValues(&s, tally)
	latencyValues(&s, tally.Latency)
	if e := g.C.FirstError(); e != "" {
		s.note("first client error: %s", e)
	}
	if r := g.C.Reconnects.Load(); r > 0 {
		s.note("%d reconnects", r)
	}
	return s, nil
}
