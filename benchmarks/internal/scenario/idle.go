package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// Idle holds N idle connections per contender, level after level in one
// server process, and fits the server's RSS and goroutines against N.
// capacity, when positive, adds a case that holds that many connections
// once per rxstream and raw contender.
func Idle(levels []int, capacity int) Scenario {
	s := Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "idle",
			Title: "Idle capacity",
			About: fmt.Sprintf("Connections held open with no traffic, at N = %v in one server process. "+
				"Memory per connection is the least-squares slope of the server's VmRSS (after runtime.GC and "+
				"debug.FreeOSMemory) against N, from N = 0; goroutines per connection likewise, and the runtime's StackInuse "+
				"and HeapInuse per connection (heap in use can exceed the RSS slope: a large buffer the kernel hands out zeroed "+
				"is not resident until written). "+
				"Connect rate is connections per second while ramping in batches of 1,000 (each batch waits until the server holds it).", levels),
			Key: "kib_per_conn",
			Metrics: []report.MetricSpec{
				{Key: "kib_per_conn", Title: "memory/conn", Unit: "KiB", Better: report.Lower},
				{Key: "goroutines_per_conn", Title: "goroutines/conn", Better: report.Lower},
				{Key: "stack_kib_per_conn", Title: "stacks/conn", Unit: "KiB", Better: report.Lower},
				{Key: "heap_kib_per_conn", Title: "heap in use/conn", Unit: "KiB", Better: report.Lower},
				{Key: "connect_per_s", Title: "connect rate", Unit: "conn/s", Better: report.Higher},
				{Key: "held", Title: "held at top"},
				{Key: "errors", Title: "errors", Better: report.Lower},
				{Key: "rss_top_mib", Title: "RSS at top", Unit: "MiB", Better: report.Lower},
				{Key: "beaten", Title: "SSE streams beaten (hold)", Better: report.Higher},
			},
		},
		For: transports(servers.SSE, servers.LongPoll, servers.WebSocket),
	}
	s.Cases = append(s.Cases, Case{
		Name:   fmt.Sprintf("N=%v", levels),
		Params: map[string]float64{"N": float64(levels[len(levels)-1])},
		Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
			return runIdle(ctx, env, p, c, levels, false)
		},
	})
	if capacity > 0 {
		s.Cases = append(s.Cases, Case{
			Name:      fmt.Sprintf("hold %d", capacity),
			Params:    map[string]float64{"N": float64(capacity)},
			Reps:      1,
			Only:      func(c servers.Contender) bool { return c.Kind != servers.Peer },
			ServerEnv: []string{servers.EnvHeartbeat + "=" + holdHeartbeat.String()},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runIdle(ctx, env, p, c, []int{capacity}, c.Transport == servers.SSE && c.Kind == servers.Rxstream)
			},
		})
	}
	return s
}

// holdHeartbeat is the heartbeat interval of the servers holding the
// capacity case, whose SSE streams must each get a beat.
const holdHeartbeat = time.Second

// runIdle holds the connections of each level in turn; with beats, it
// then checks that every stream gets a heartbeat comment within 2.5
// intervals of holdHeartbeat ("beaten": the streams that did).
func runIdle(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, levels []int, beats bool) (Sample, error) {
	s := newSample()
	top := levels[len(levels)-1]
	rss0, st0, err := settleMem(ctx, p, 50*time.Millisecond)
	if err != nil {
		return s, err
	}
	xs, rss, gs := []float64{0}, []float64{float64(rss0)}, []float64{float64(st0.Goroutines)}
	stacks, heap := []float64{float64(st0.StackInuse)}, []float64{float64(st0.HeapInuse)}
	s.Series["rss_mib"] = append(s.Series["rss_mib"], report.Point{X: 0, Y: float64(rss0) / (1 << 20)})
	var t load.Tracker
	g := newGroup(ctx, env, p, c, top, load.Options{})
	defer g.stop()
	var ramping time.Duration
	for _, n := range levels {
		took, err := g.ramp(&t, n, 0, true)
		ramping += took
		if err != nil {
			s.Values["errors"] = float64(g.C.Errors.Load())
			return s, err
		}
		r, st, err := settleMem(ctx, p, 300*time.Millisecond)
		if err != nil {
			return s, err
		}
		xs, rss, gs = append(xs, float64(n)), append(rss, float64(r)), append(gs, float64(st.Goroutines))
		stacks, heap = append(stacks, float64(st.StackInuse)), append(heap, float64(st.HeapInuse))
		s.Series["rss_mib"] = append(s.Series["rss_mib"], report.Point{X: float64(n), Y: float64(r) / (1 << 20)})
	}
	st, err := p.Stats(ctx)
	if err != nil {
		return s, err
	}
	b, _ := report.Slope(xs, rss)
	s.Values["kib_per_conn"] = b / 1024
	sb, _ := report.Slope(xs, stacks)
	s.Values["stack_kib_per_conn"] = sb / 1024
	hb, _ := report.Slope(xs, heap)
	s.Values["heap_kib_per_conn"] = hb / 1024
	gb, _ := report.Slope(xs, gs)
	s.Values["goroutines_per_conn"] = gb
	s.Values["connect_per_s"] = float64(top) / ramping.Seconds()
	s.Values["held"] = float64(st.Inflight)
	s.Values["errors"] = float64(g.C.Errors.Load())
	s.Values["rss_top_mib"] = rss[len(rss)-1] / (1 << 20)
	if beats {
		before := make([]int64, len(g.subs))
		for i, sub := range g.subs {
			before[i] = sub.Beats()
		}
		select {
		case <-time.After(holdHeartbeat * 5 / 2):
		case <-ctx.Done():
			return s, ctx.Err()
		}
		n := 0
		for i, sub := range g.subs {
			if sub.Beats() > before[i] {
				n++
			}
		}
		s.Values["beaten"] = float64(n)
	}
	if e := g.C.FirstError(); e != "" {
		s.note("first client error: %s", e)
	}
	return s, nil
}
