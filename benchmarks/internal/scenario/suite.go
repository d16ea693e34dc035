package scenario

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// Suite runs scenarios against contenders.
type Suite struct {
	Env        Env
	Reps       int
	Scenarios  []Scenario
	Contenders []servers.Contender
	Progress   *report.Progress
}

type runKey struct{ scenario, cs, contender string }

type collected struct {
	result  *report.Result
	samples []Sample
	latency *hdrhistogram.Histogram
}

// Run runs every case of every scenario for every contender it applies to,
// Reps times, alternating the contenders' order from one repetition to the
// next (and, in a scenario that interleaves, running its cases in turn
// within each repetition), each run against a fresh server process. A run that fails is
// recorded as a note and its metrics are left out; Run fails only when ctx
// ends.
func (s *Suite) Run(ctx context.Context, r *report.Report) error {
	r.Reps = s.Reps
	for _, sc := range s.Scenarios {
		r.Scenarios = append(r.Scenarios, sc.ScenarioInfo)
		var plans []*casePlan
		for _, cs := range sc.Cases {
			if p := s.plan(sc, cs, r); p != nil {
				plans = append(plans, p)
			}
		}
		if sc.Interleave {
			// Repetition after repetition, every case once.
			reps := 0
			for _, p := range plans {
				reps = max(reps, p.reps)
			}
			for rep := range reps {
				for _, p := range plans {
					if rep < p.reps {
						if err := s.runRep(ctx, sc, p, rep); err != nil {
							return err
						}
					}
				}
			}
		} else {
			for _, p := range plans {
				for rep := range p.reps {
					if err := s.runRep(ctx, sc, p, rep); err != nil {
						return err
					}
				}
			}
		}
		for _, p := range plans {
			for _, col := range p.byName {
				summarize(sc, col)
			}
		}
	}
	r.Ratios = Ratios(r)
	return nil
}

// casePlan is one case with the contenders it runs and what they collect.
type casePlan struct {
	cs     Case
	cons   []servers.Contender
	reps   int
	byName map[string]*collected
}

// plan returns the plan of a case, its results added to r, or nil when no
// contender applies.
func (s *Suite) plan(sc Scenario, cs Case, r *report.Report) *casePlan {
	p := &casePlan{cs: cs, reps: s.Reps, byName: map[string]*collected{}}
	for _, c := range s.Contenders {
		if sc.For(c) && (cs.Only == nil || cs.Only(c)) {
			p.cons = append(p.cons, c)
		}
	}
	if len(p.cons) == 0 {
		return nil
	}
	if cs.Reps > 0 {
		p.reps = min(cs.Reps, p.reps)
	}
	for _, c := range p.cons {
		res := &report.Result{Scenario: sc.Name, Case: cs.Name, Params: cs.Params,
			Contender: c.Name, Transport: c.Transport.String(), Kind: c.Kind.String(), Reps: p.reps}
		p.byName[c.Name] = &collected{result: res}
		r.Results = append(r.Results, res)
	}
	return p
}

// runRep runs repetition rep of a case for each of its contenders,
// rotating who goes first; it fails only when ctx ends.
func (s *Suite) runRep(ctx context.Context, sc Scenario, p *casePlan, rep int) error {
	for i := range p.cons {
		c := p.cons[(i+rep)%len(p.cons)]
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		smp, err := s.runOne(ctx, sc, p.cs, c)
		s.Progress.Step(sc.Name, p.cs.Name, c.Name, rep+1, p.reps, time.Since(t0), err)
		col := p.byName[c.Name]
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			col.result.Notes = append(col.result.Notes, fmt.Sprintf("rep %d failed: %v", rep+1, err))
			continue
		}
		for _, n := range smp.Notes {
			col.result.Notes = append(col.result.Notes, fmt.Sprintf("rep %d: %s", rep+1, n))
		}
		col.samples = append(col.samples, smp)
		if smp.Latency != nil {
			if col.latency == nil {
				col.latency = hdrhistogram.New(1, 60_000_000, 3)
			}
			col.latency.Merge(smp.Latency)
		}
	}
	return nil
}

func (s *Suite) runOne(ctx context.Context, sc Scenario, cs Case, c servers.Contender) (Sample, error) {
	p, err := load.Start(ctx, c.Name, s.Env.ServerCPUs, cs.ServerEnv...)
	if err != nil {
		return Sample{}, err
	}
	defer p.Stop()
	smp, err := cs.Run(ctx, &s.Env, p, c)
	if err != nil {
		if tail := p.Stderr(); tail != "" {
			err = fmt.Errorf("%w (server stderr: %.300s)", err, tail)
		}
	}
	return smp, err
}

// summarize turns the samples of one contender into its Result.
func summarize(sc Scenario, col *collected) {
	res := col.result
	for _, spec := range sc.Metrics {
		var vals []float64
		for _, smp := range col.samples {
			if v, ok := smp.Values[spec.Key]; ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		res.Metrics = append(res.Metrics, report.Metric{MetricSpec: spec, Stat: report.Summarize(vals), Values: vals})
	}
	// Series: the median Y at each X over the repetitions.
	series := map[string]map[float64][]float64{}
	for _, smp := range col.samples {
		for name, pts := range smp.Series {
			if series[name] == nil {
				series[name] = map[float64][]float64{}
			}
			for _, pt := range pts {
				series[name][pt.X] = append(series[name][pt.X], pt.Y)
			}
		}
	}
	for name, byX := range series {
		xs := make([]float64, 0, len(byX))
		for x := range byX {
			xs = append(xs, x)
		}
		slices.Sort(xs)
		if res.Series == nil {
			res.Series = map[string][]report.Point{}
		}
		for _, x := range xs {
			res.Series[name] = append(res.Series[name], report.Point{X: x, Y: report.Summarize(byX[x]).Median})
		}
	}
	if h := col.latency; h != nil && h.TotalCount() > 0 {
		if res.Series == nil {
			res.Series = map[string][]report.Point{}
		}
		for _, q := range latencyQuantiles {
			res.Series["latency_ms"] = append(res.Series["latency_ms"],
				report.Point{X: q, Y: float64(h.ValueAtQuantile(q)) / 1000})
		}
	}
}

// latencyQuantiles are the percentiles of the latency charts.
var latencyQuantiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100}

// Ratios compares, in every case, the rxstream contender of each transport
// with the raw baseline and each peer of that transport, on the scenario's
// key metric (medians).
func Ratios(r *report.Report) []report.Ratio {
	keys := map[string]string{}
	for _, sc := range r.Scenarios {
		keys[sc.Name] = sc.Key
	}
	var out []report.Ratio
	for _, num := range r.Results {
		if num.Kind != servers.Rxstream.String() || keys[num.Scenario] == "" {
			continue
		}
		nm, ok := num.Metric(keys[num.Scenario])
		if !ok {
			continue
		}
		for _, den := range r.Results {
			if den == num || den.Scenario != num.Scenario || den.Case != num.Case || den.Transport != num.Transport {
				continue
			}
			dm, ok := den.Metric(keys[num.Scenario])
			if !ok || dm.Median == 0 || math.IsNaN(dm.Median) {
				continue
			}
			out = append(out, report.Ratio{Scenario: num.Scenario, Case: num.Case, Metric: nm.Key,
				Num: num.Contender, Den: den.Contender, Value: nm.Median / dm.Median})
		}
	}
	return out
}
