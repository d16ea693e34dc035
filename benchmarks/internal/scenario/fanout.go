package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// FanoutCase is one size of the fan-out scenario.
type FanoutCase struct {
	Subscribers int
	Size        int // payload bytes
	Deliveries  int // events x subscribers to aim for
	// Topics, when above 0, makes each of the Subscribers connections
	// follow that many topics on the multiplexed wire (a delivery is an
	// event of one topic to one connection); 0 is the single-topic wire.
	Topics int
}

// subscriptions returns the connections times the topics of each.
func (fc FanoutCase) subscriptions() int { return fc.Subscribers * max(fc.Topics, 1) }

// fanoutWindow is the number of events per publish request; at most
// fanoutAhead of them may be outstanding (published but not yet received
// by the slowest subscriber), below the hub's default queue of 512.
const (
	fanoutWindow = 64
	fanoutAhead  = 4 * fanoutWindow
)

// Fanout is one publisher and N subscribers, events back to back.
func Fanout(cases []FanoutCase) Scenario {
	s := Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "fanout",
			Title: "Fan-out throughput",
			About: fmt.Sprintf("One publisher, N subscribers; events published back to back in requests of %d, "+
				"with at most %d outstanding behind the slowest subscriber (flow control from the load generator, "+
				"so no server's queue overflows). Deliveries/s counts events x subscribers from the first publish "+
				"to the last delivery; per CPU-second divides by the server's utime+stime; writes per delivery divides "+
				"the server's write system calls (syscw of /proc/PID/io) by the deliveries, and deliveries per write is its inverse "+
				"(the events a subscriber's write carries).", fanoutWindow, fanoutAhead),
			Key: "deliveries_per_s",
			Metrics: []report.MetricSpec{
				{Key: "deliveries_per_s", Title: "deliveries/s", Better: report.Higher},
				{Key: "deliveries_per_cpu_s", Title: "per server CPU-s", Better: report.Higher},
				{Key: "server_cpu_s", Title: "server CPU", Unit: "s", Better: report.Lower},
				{Key: "writes_per_delivery", Title: "writes/delivery", Better: report.Lower},
				{Key: "deliveries_per_write", Title: "deliveries/write", Better: report.Higher},
				mP99, mLost, mDup, mOOO,
			},
		},
		For: transports(servers.SSE, servers.WebSocket),
	}
	for _, fc := range cases {
		s.Cases = append(s.Cases, Case{
			Name:   fmt.Sprintf("N=%d %dB", fc.Subscribers, fc.Size),
			Params: map[string]float64{"N": float64(fc.Subscribers), "size": float64(fc.Size)},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runFanout(ctx, env, p, c, fc)
			},
		})
	}
	return s
}

func runFanout(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, fc FanoutCase) (Sample, error) {
	s := newSample()
	events := max(fc.Deliveries/fc.subscriptions(), fanoutWindow/2)
	t := &load.Tracker{Events: events, Latency: true}
	g := newGroup(ctx, env, p, c, fc.Subscribers, load.Options{})
	defer g.stop()
	if fc.Topics == 0 {
		if _, err := g.ramp(t, fc.Subscribers, 0, true); err != nil {
			return s, err
		}
	} else if _, err := g.rampTopics(t, fc.Subscribers, fc.Topics, 0); err != nil {
		return s, err
	}
	if err := warmTopics(ctx, p, g.subs, fc.Topics, 20*time.Second); err != nil {
		return s, err
	}
	cpu0, err := p.CPU()
	if err != nil {
		return s, err
	}
	w0, werr := p.Writes()
	pollEvery := time.Duration(max(1, fc.subscriptions()/1000)) * 100 * time.Microsecond
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	published := 0
	for published < events && time.Now().Before(deadline) {
		for int64(published)-load.MinGot(g.subs) > fanoutAhead-fanoutWindow && time.Now().Before(deadline) {
			time.Sleep(pollEvery) // MinGot reads every subscriber
		}
		n := min(fanoutWindow, events-published)
		pctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := p.PublishTopics(pctx, published+1, n, fc.Size, 0, fc.Topics)
		cancel()
		if err != nil {
			s.note("publish stopped at %d: %v", published, err)
			break
		}
		published += n
	}
	end, ok := waitAll(ctx, t, len(g.subs), time.Until(deadline)+2*time.Second)
	if !ok {
		s.note("not every subscriber got every event by the deadline")
	}
	cpu1, err := p.CPU()
	if err != nil {
		return s, err
	}
	w1, werr1 := p.Writes()
	g.stop()
	tally := t.Tally()
	el := end.Sub(start).Seconds()
	cpu := (cpu1 - cpu0).Seconds()
	s.Values["deliveries_per_s"] = float64(tally.Delivered) / el
	s.Values["server_cpu_s"] = cpu
	if cpu > 0 {
		s.Values["deliveries_per_cpu_s"] = float64(tally.Delivered) / cpu
	}
	if werr == nil && werr1 == nil && w1 > w0 && tally.Delivered > 0 {
		s.Values["writes_per_delivery"] = float64(w1-w0) / float64(tally.Delivered)
		s.Values["deliveries_per_write"] = float64(tally.Delivered) / float64(w1-w0)
	}
	tallyValues(&s, tally)
	if h := tally.Latency; h != nil && h.TotalCount() > 0 {
		s.Values["p50_ms"] = float64(h.ValueAtQuantile(50)) / 1000
		s.Values["p99_ms"] = float64(h.ValueAtQuantile(99)) / 1000
	}
	if r := g.C.Reconnects.Load(); r > 0 {
		s.note("%d reconnects", r)
	}
	return s, nil
}
