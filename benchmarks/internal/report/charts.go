package report

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteCharts draws the PNG charts into dir and records their names in r:
// latency.png (latency distribution per contender, paced scenario),
// memory.png (server RSS against idle connections) and fanout.png
// (deliveries/s against subscribers, 64 B events).
func WriteCharts(r *Report, dir string) error {
	charts := []struct {
		file string
		draw func(*Report) (*plot.Plot, bool, error)
	}{
		{"latency.png", latencyChart},
		{"memory.png", memoryChart},
		{"fanout.png", fanoutChart},
	}
	r.Charts = nil
	for _, c := range charts {
		p, ok, err := c.draw(r)
		if err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		if !ok {
			continue
		}
		if err := p.Save(9*vg.Inch, 5.5*vg.Inch, filepath.Join(dir, c.file)); err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		r.Charts = append(r.Charts, c.file)
	}
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// lines adds one line per named series, in a stable order.
func lines(p *plot.Plot, names []string, series map[string]plotter.XYs) error {
	var args []any
	for _, n := range names {
		if len(series[n]) > 0 {
			args = append(args, n, series[n])
		}
	}
	if len(args) == 0 {
		return nil
	}
	return plotutil.AddLinePoints(p, args...)
}

// nines maps a percentile to its "number of nines": 90 -> 1, 99 -> 2.
func nines(q float64) float64 { return -math.Log10(1 - math.Min(q, 99.99)/100) }

func latencyChart(r *Report) (*plot.Plot, bool, error) {
	p := newPlot("Delivery latency, paced open loop ("+lastCase(r, "paced")+")", "percentile", "latency (ms, log)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var ticks []plot.Tick
	for _, q := range []float64{50, 90, 99, 99.9, 99.99} {
		ticks = append(ticks, plot.Tick{Value: nines(q), Label: strconv.FormatFloat(q, 'f', -1, 64)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	cs := lastCase(r, "paced")
	series := map[string]plotter.XYs{}
	var names []string
	for _, res := range r.Results {
		if res.Scenario != "paced" || res.Case != cs {
			continue
		}
		for _, pt := range res.Series["latency_ms"] {
			if pt.X < 50 || pt.X > 99.99 {
				continue
			}
			series[res.Contender] = append(series[res.Contender], plotter.XY{X: nines(pt.X), Y: math.Max(pt.Y, 0.001)})
		}
		names = append(names, res.Contender)
	}
	return p, len(names) > 0, lines(p, names, series)
}

func memoryChart(r *Report) (*plot.Plot, bool, error) {
	p := newPlot("Server RSS against idle connections", "connections", "RSS (MiB)")
	series := map[string]plotter.XYs{}
	var names []string
	cs := firstCase(r, "idle")
	for _, res := range r.Results {
		if res.Scenario != "idle" || res.Case != cs {
			continue
		}
		for _, pt := range res.Series["rss_mib"] {
			series[res.Contender] = append(series[res.Contender], plotter.XY{X: pt.X, Y: pt.Y})
		}
		names = append(names, res.Contender)
	}
	return p, len(names) > 0, lines(p, names, series)
}

func fanoutChart(r *Report) (*plot.Plot, bool, error) {
	p := newPlot("Fan-out throughput, 64 B events", "subscribers (log)", "deliveries/s (log)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Left = false
	series := map[string]plotter.XYs{}
	var names []string
	for _, res := range r.Results {
		if res.Scenario != "fanout" || res.Params["size"] != 64 {
			continue
		}
		m, ok := res.Metric("deliveries_per_s")
		if !ok {
			continue
		}
		if _, seen := series[res.Contender]; !seen {
			names = append(names, res.Contender)
		}
		series[res.Contender] = append(series[res.Contender], plotter.XY{X: res.Params["N"], Y: m.Median})
	}
	return p, len(names) > 0, lines(p, names, series)
}

func firstCase(r *Report, scenario string) string {
	if cs := cases(r, scenario); len(cs) > 0 {
		return cs[0]
	}
	return ""
}

func lastCase(r *Report, scenario string) string {
	if cs := cases(r, scenario); len(cs) > 0 {
		return cs[len(cs)-1]
	}
	return ""
}
