package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// Env is what a scenario run needs from the suite.
type Env struct {
	// ServerCPUs, when set, pins each server process to those CPUs
	// (taskset -c).
	ServerCPUs string
	// Sources is the number of loopback source addresses the load
	// generator spreads its connections over (see [load.Dialer]).
	Sources int
}

func (e *Env) dialer(conns int) *load.Dialer {
	if conns > 10000 {
		return &load.Dialer{Sources: max(e.Sources, 4)}
	}
	return &load.Dialer{Sources: e.Sources}
}

// Sample is what one run of a case reports.
type Sample struct {
	Values map[string]float64
	Series map[string][]report.Point
	// Latency, when set, is merged over repetitions for the charts.
	Latency *hdrhistogram.Histogram
	Notes   []string
}

func newSample() Sample {
	return Sample{Values: map[string]float64{}, Series: map[string][]report.Point{}}
}

func (s *Sample) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// Case is one configuration of a scenario, run once per contender and
// repetition against a fresh server process.
type Case struct {
	Name   string
	Params map[string]float64
	// Reps overrides the suite's repetitions when positive.
	Reps int
	// Only, when set, narrows the scenario's contenders for this case.
	Only func(servers.Contender) bool
	// ServerEnv is added to the server process's environment.
	ServerEnv []string
	Run       func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error)
}

// Scenario is a fixed amount of work run against a set of contenders.
type Scenario struct {
	report.ScenarioInfo
	// For picks the contenders the scenario applies to.
	For   func(servers.Contender) bool
	Cases []Case
	// Interleave runs the cases in turn within each repetition rather
	// than all repetitions of one case after the other, so that cases
	// compared with each other see the same drift of machine load.
	Interleave bool
}

// transports returns a filter for contenders of those transports.
func transports(ts ...servers.Transport) func(servers.Contender) bool {
	return func(c servers.Contender) bool {
		for _, t := range ts {
			if c.Transport == t {
				return true
			}
		}
		return false
	}
}

// group is a set of subscribers run by the load generator.
type group struct {
	env    *Env
	proc   *load.Proc
	client load.Client
	d      *load.Dialer
	opts   load.Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*load.Sub
	conns  int // connections started by rampTopics
	kind   servers.Transport
	C      load.Counters
}

func newGroup(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, conns int, o load.Options) *group {
	g := &group{env: env, proc: p, client: load.ClientFor(c.Transport), kind: c.Transport, d: env.dialer(conns), opts: o}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g
}

// add starts one subscriber feeding s.
func (g *group) add(s *load.Sub) {
	g.subs = append(g.subs, s)
	g.wg.Go(func() { g.client(g.ctx, g.d, g.proc.Addr, s, &g.C, g.opts) })
}

// ramp adds subscribers from t until n run, in batches, waiting after each
// batch until the server holds them (inflight counts base+subscribers).
// It returns the time the ramp took.
func (g *group) ramp(t *load.Tracker, n int, base int64, wait bool) (time.Duration, error) {
	const batch = 1000
	start := time.Now()
	for len(g.subs) < n {
		k := min(n-len(g.subs), batch)
		for range k {
			g.add(t.NewSub())
		}
		if !wait {
			continue
		}
		if _, err := g.proc.WaitInflight(g.ctx, base+int64(len(g.subs)), false, 30*time.Second); err != nil {
			return time.Since(start), fmt.Errorf("ramp to %d: %w (client errors %d: %s)", len(g.subs), err, g.C.Errors.Load(), g.C.FirstError())
		}
	}
	return time.Since(start), nil
}

// addTopics starts one connection following topics, feeding subs[i] with
// topics[i]; every sub counts as one subscriber of the group.
func (g *group) addTopics(topics []string, subs []*load.Sub) {
	g.subs = append(g.subs, subs...)
	client := load.TopicsClientFor(g.kind)
	g.wg.Go(func() { client(g.ctx, g.d, g.proc.Addr, topics, subs, &g.C, g.opts) })
}

// rampTopics adds connections following k topics each from t until n
// connections run, beyond the base connections the server already holds,
// in batches like ramp. With k 0 they are single-topic connections (add).
func (g *group) rampTopics(t *load.Tracker, n, k int, base int64) (time.Duration, error) {
	const batch = 1000
	start := time.Now()
	for g.conns < n {
		for range min(n-g.conns, batch) {
			g.conns++
			if k == 0 {
				g.add(t.NewSub())
				continue
			}
			subs := make([]*load.Sub, k)
			for i := range subs {
				subs[i] = t.NewSub()
			}
			g.addTopics(topicNames(k), subs)
		}
		if _, err := g.proc.WaitInflight(g.ctx, base+int64(g.conns), false, 30*time.Second); err != nil {
			return time.Since(start), fmt.Errorf("ramp to %d connections: %w (client errors %d: %s)", g.conns, err, g.C.Errors.Load(), g.C.FirstError())
		}
	}
	return time.Since(start), nil
}

// topicNames returns the first k topics of the multiplexed scenarios.
func topicNames(k int) []string {
	names := make([]string, k)
	for i := range names {
		names[i] = servers.TopicName(i)
	}
	return names
}

// stop ends every subscriber and waits for them.
func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}

// warm publishes warm-up events until every subscriber got one, so that
// all are subscribed before the measured events go out.
func warm(ctx context.Context, p *load.Proc, subs []*load.Sub, timeout time.Duration) error {
	return warmTopics(ctx, p, subs, 0, timeout)
}

// warmTopics is warm publishing to topics 0..topics-1 (0: the single
// topic).
func warmTopics(ctx context.Context, p *load.Proc, subs []*load.Sub, topics int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !load.AllWarm(subs) {
		if time.Now().After(deadline) {
			n := 0
			for _, s := range subs {
				if s.Warm() {
					n++
				}
			}
			return fmt.Errorf("warm-up: %d of %d subscribers ready after %v", n, len(subs), timeout)
		}
		if _, err := p.PublishTopics(ctx, 0, 1, 64, 0, topics); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return nil
}

// waitAll waits until all n subscribers of t received every event or the
// timeout passed; it returns when the last one arrived (or the timeout).
func waitAll(ctx context.Context, t *load.Tracker, n int, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for t.Complete() < int64(n) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Now(), false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Now(), true
}

// settle lets the server finish what it was doing, collects its garbage
// and returns its RSS and goroutines.
func settle(ctx context.Context, p *load.Proc, d time.Duration) (rss int64, goroutines int, err error) {
	rss, st, err := settleMem(ctx, p, d)
	return rss, st.Goroutines, err
}

// settleMem is settle with the runtime's memory figures.
func settleMem(ctx context.Context, p *load.Proc, d time.Duration) (int64, servers.Stats, error) {
	select {
	case <-ctx.Done():
		return 0, servers.Stats{}, ctx.Err()
	case <-time.After(d):
	}
	if err := p.GC(ctx); err != nil {
		return 0, servers.Stats{}, err
	}
	st, err := p.MemStats(ctx)
	if err != nil {
		return 0, st, err
	}
	rss, err := p.RSS()
	return rss, st, err
}

func tallyValues(s *Sample, t load.Tally) {
	s.Values["lost"] = float64(t.Lost)
	s.Values["duplicated"] = float64(t.Duplicated)
	s.Values["out_of_order"] = float64(t.OutOfOrder)
	if t.Malformed > 0 {
		s.note("%d malformed payloads", t.Malformed)
	}
	if t.Gaps > 0 {
		s.note("%d gap notices (the server told the client what was lost)", t.Gaps)
	}
}

func latencyValues(s *Sample, h *hdrhistogram.Histogram) {
	if h == nil || h.TotalCount() == 0 {
		return
	}
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	s.Values["p50_ms"] = ms(50)
	s.Values["p90_ms"] = ms(90)
	s.Values["p99_ms"] = ms(99)
	s.Values["p999_ms"] = ms(99.9)
	s.Values["max_ms"] = float64(h.Max()) / 1000
	s.Latency = h
}

// Common metric specs.
var (
	mLost = report.MetricSpec{Key: "lost", Title: "lost", Better: report.Lower}
	mDup  = report.MetricSpec{Key: "duplicated", Title: "dup", Better: report.Lower}
	mOOO  = report.MetricSpec{Key: "out_of_order", Title: "out of order", Better: report.Lower}
	mP50  = report.MetricSpec{Key: "p50_ms", Title: "p50", Unit: "ms", Better: report.Lower}
	mP90  = report.MetricSpec{Key: "p90_ms", Title: "p90", Unit: "ms", Better: report.Lower}
	mP99  = report.MetricSpec{Key: "p99_ms", Title: "p99", Unit: "ms", Better: report.Lower}
	mP999 = report.MetricSpec{Key: "p999_ms", Title: "p99.9", Unit: "ms", Better: report.Lower}
	mMax  = report.MetricSpec{Key: "max_ms", Title: "max", Unit: "ms", Better: report.Lower}
)
