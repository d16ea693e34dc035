package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// multiplexed picks the rxstream contenders that serve several topics per
// connection.
func multiplexed(c servers.Contender) bool { return c.Mux && c.Kind == servers.Rxstream }

// MuxMemory measures what a subscription costs on a connection that
// already follows another topic: in one server process, N connections of
// one topic each are held level after level, then N connections of topics
// topics each on top of them; each is fitted against its connection count
// as in [Idle], and the difference of the two slopes is divided out per
// extra subscription.
func MuxMemory(levels []int, topics int) Scenario {
	extra := float64(topics - 1)
	return Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "muxmem",
			Title: "Memory per extra subscription on one connection",
			About: fmt.Sprintf("In one server process, connections following 1 topic each (the single-topic URL) are "+
				"held at N = %v, then as many connections following %d topics each (?topic=a&topic=b...) on top of them. "+
				"Before the first measurement every topic has a full history (so topics cost nothing later); at every level "+
				"each subscription has received its first events. Memory per connection is the least-squares slope of VmRSS "+
				"(after runtime.GC and debug.FreeOSMemory) against the connections of its kind, and of the runtime's HeapInuse; "+
				"per extra subscription is (slope with %d topics - slope with 1) / %d; 10 connections is 10 x the 1-topic slope.",
				levels, topics, topics, topics-1),
			Key: "kib_per_extra_sub",
			Metrics: []report.MetricSpec{
				{Key: "kib_per_extra_sub", Title: "RSS/extra subscription", Unit: "KiB", Better: report.Lower},
				{Key: "heap_kib_per_extra_sub", Title: "heap/extra subscription", Unit: "KiB", Better: report.Lower},
				{Key: "kib_per_conn", Title: "RSS/1-topic conn", Unit: "KiB", Better: report.Lower},
				{Key: "kib_per_mux_conn", Title: fmt.Sprintf("RSS/%d-topic conn", topics), Unit: "KiB", Better: report.Lower},
				{Key: "kib_per_conns", Title: fmt.Sprintf("RSS/%d 1-topic conns", topics), Unit: "KiB", Better: report.Lower},
				{Key: "mux_over_conns", Title: fmt.Sprintf("%d-topic conn / %d conns", topics, topics), Better: report.Lower},
				{Key: "heap_kib_per_conn", Title: "heap/1-topic conn", Unit: "KiB", Better: report.Lower},
				{Key: "heap_kib_per_mux_conn", Title: fmt.Sprintf("heap/%d-topic conn", topics), Unit: "KiB", Better: report.Lower},
				{Key: "goroutines_per_mux_conn", Title: fmt.Sprintf("goroutines/%d-topic conn", topics), Better: report.Lower},
				{Key: "errors", Title: "errors", Better: report.Lower},
			},
		},
		For: multiplexed,
		Cases: []Case{{
			Name:   fmt.Sprintf("N=%v x%d topics", levels, topics),
			Params: map[string]float64{"N": float64(levels[len(levels)-1]), "topics": float64(topics)},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				s, err := runMuxMemory(ctx, env, p, c, levels, topics)
				if err == nil {
					s.Values["kib_per_extra_sub"] = (s.Values["kib_per_mux_conn"] - s.Values["kib_per_conn"]) / extra
					s.Values["heap_kib_per_extra_sub"] = (s.Values["heap_kib_per_mux_conn"] - s.Values["heap_kib_per_conn"]) / extra
					s.Values["kib_per_conns"] = float64(topics) * s.Values["kib_per_conn"]
					s.Values["mux_over_conns"] = s.Values["kib_per_mux_conn"] / s.Values["kib_per_conns"]
				}
				return s, err
			},
		}},
	}
}

// EnvHeapProfile, when set to a directory, makes muxmem write the server's
// heap profile there at the top of each phase, as CONTENDER-PID-conn.pprof
// and CONTENDER-PID-mux_conn.pprof (a debugging aid: the second with the
// first as -base shows what the multiplexed connections hold).
const EnvHeapProfile = "RXBENCH_HEAPPROFILE"

// muxHistory is how many events each topic gets before the first
// measurement: more than a default topic's history holds.
const muxHistory = 1100

func runMuxMemory(ctx context.Context, env *Env, p *load.Proc, c servers.Contender, levels []int, topics int) (Sample, error) {
	s := newSample()
	top := levels[len(levels)-1]
	// Fill every topic's history now, so that the events of the warm-ups
	// below replace history rather than grow it.
	for from := 0; from < muxHistory; from += 100 {
		if _, err := p.PublishTopics(ctx, 0, 100, 64, 0, topics); err != nil {
			return s, err
		}
	}
	var t load.Tracker
	g := newGroup(ctx, env, p, c, 2*top, load.Options{})
	defer g.stop()
	// phase holds connections of k topics (0: the single-topic URL) at
	// every level and fits the server's figures against their count.
	phase := func(k int, key string) error {
		base := int64(g.conns)
		rss0, st0, err := settleMem(ctx, p, 50*time.Millisecond)
		if err != nil {
			return err
		}
		xs, rss, heap, gs := []float64{0}, []float64{float64(rss0)}, []float64{float64(st0.HeapInuse)}, []float64{float64(st0.Goroutines)}
		for _, n := range levels {
			if _, err := g.rampTopics(&t, int(base)+n, k, 0); err != nil {
				return err
			}
			if err := warmTopics(ctx, p, g.subs, topics, 20*time.Second); err != nil {
				return err
			}
			r, st, err := settleMem(ctx, p, 300*time.Millisecond)
			if err != nil {
				return err
			}
			xs, rss = append(xs, float64(n)), append(rss, float64(r))
			heap, gs = append(heap, float64(st.HeapInuse)), append(gs, float64(st.Goroutines))
			s.Series["rss_mib_"+key] = append(s.Series["rss_mib_"+key], report.Point{X: float64(n), Y: float64(r) / (1 << 20)})
		}
		b, _ := report.Slope(xs, rss)
		s.Values["kib_per_"+key] = b / 1024
		hb, _ := report.Slope(xs, heap)
		s.Values["heap_kib_per_"+key] = hb / 1024
		gb, _ := report.Slope(xs, gs)
		s.Values["goroutines_per_"+key] = gb
		if dir := os.Getenv(EnvHeapProfile); dir != "" {
			b, err := p.HeapProfile(ctx)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%s.pprof", c.Name, p.PID, key)), b, 0o644)
			}
			if err != nil {
				s.note("heap profile: %v", err)
			}
		}
		return nil
	}
	err := phase(0, "conn")
	if err == nil {
		err = phase(topics, "mux_conn")
	}
	s.Values["errors"] = float64(g.C.Errors.Load())
	if e := g.C.FirstError(); e != "" {
		s.note("first client error: %s", e)
	}
	if r := g.C.Reconnects.Load(); r > 0 {
		s.note("%d reconnects", r)
	}
	return s, err
}

// MuxFanout is [Fanout] over connections that follow several topics each,
// side by side with single-topic connections: the cases should hold the
// same payload size so that they compare.
func MuxFanout(cases []FanoutCase) Scenario {
	s := Fanout(cases)
	s.Name = "muxfanout"
	s.Title = "Fan-out over multiplexed connections"
	s.About = "As fan-out, with N connections each following T topics on one multiplexed request " +
		"(?topic=a&topic=b...; T = 1 is the single-topic URL); every event is published to each of the T topics, " +
		"and a delivery is one event of one topic to one connection, so deliveries = events x T x N. " +
		"Latency is receipt - publish time over every delivery."
	s.Metrics = []report.MetricSpec{
		{Key: "deliveries_per_s", Title: "deliveries/s", Better: report.Higher},
		{Key: "deliveries_per_cpu_s", Title: "per server CPU-s", Better: report.Higher},
		{Key: "server_cpu_s", Title: "server CPU", Unit: "s", Better: report.Lower},
		mP50, mP99, mLost, mDup, mOOO,
	}
	s.For = multiplexed
	s.Interleave = true
	for i, fc := range cases {
		s.Cases[i].Name = fmt.Sprintf("N=%d x%d topics %dB", fc.Subscribers, max(fc.Topics, 1), fc.Size)
		s.Cases[i].Params["topics"] = float64(max(fc.Topics, 1))
	}
	return s
}
