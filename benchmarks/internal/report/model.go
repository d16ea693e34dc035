package report

import (
	"math"
	"slices"
	"time"
)

// Stat is the summary of a metric over repetitions.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize returns the median, min and max of v (zeros when v is empty).
// NaN values are left out.
func Summarize(v []float64) Stat {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// Slope fits y = a + b x by least squares and returns b and a.
func Slope(xs, ys []float64) (b, a float64) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return math.NaN(), math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return math.NaN(), math.NaN()
	}
	b = (n*sxy - sx*sy) / d
	return b, (sy - b*sx) / n
}

// Better says which way a metric improves.
type Better int

// Directions of improvement.
const (
	Neutral Better = iota
	Higher
	Lower
)

// MetricSpec describes a metric a scenario reports.
type MetricSpec struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	Unit   string `json:"unit,omitempty"`
	Better Better `json:"better,omitempty"`
}

// Metric is a metric's values over the repetitions and their summary.
type Metric struct {
	MetricSpec
	Stat
	Values []float64 `json:"values"`
}

// Point is a point of a chart series.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Result is one contender's figures in one case of a scenario.
type Result struct {
	Scenario  string             `json:"scenario"`
	Case      string             `json:"case"`
	Params    map[string]float64 `json:"params,omitempty"`
	Contender string             `json:"contender"`
	Transport string             `json:"transport"`
	Kind      string             `json:"kind"`
	// Reps is the number of repetitions run.
	Reps    int      `json:"reps"`
	Metrics []Metric `json:"metrics"`
	// Series holds chart data: "rss_mib" (N, MiB), "latency_ms"
	// (percentile, ms), medians over the repetitions.
	Series map[string][]Point `json:"series,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
}

// Metric returns the metric of that key.
func (r *Result) Metric(key string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

// Ratio compares rxstream with another contender on one metric (medians).
type Ratio struct {
	Scenario string  `json:"scenario"`
	Case     string  `json:"case"`
	Metric   string  `json:"metric"`
	Num      string  `json:"num"`
	Den      string  `json:"den"`
	Value    float64 `json:"value"`
}

// Target is one of the project's goals and how the run fared.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Met is "yes", "no", or "n/a" when the run did not measure it.
	Met string `json:"met"`
	// Why explains a miss, from the run's own figures where it can.
	Why string `json:"why,omitempty"`
}

// ScenarioInfo describes a scenario in the report.
type ScenarioInfo struct {
	Name    string       `json:"name"`
	Title   string       `json:"title"`
	About   string       `json:"about"`
	Metrics []MetricSpec `json:"metrics"`
	// Key is the metric ratios are taken on.
	Key string `json:"key,omitempty"`
}

// Report is a whole run.
type Report struct {
	Mode      string         `json:"mode"`
	Command   string         `json:"command"`
	Machine   Machine        `json:"machine"`
	Started   time.Time      `json:"started"`
	Elapsed   string         `json:"elapsed"`
	Reps      int            `json:"reps"`
	Scenarios []ScenarioInfo `json:"scenarios"`
	Results   []*Result      `json:"results"`
	Ratios    []Ratio        `json:"ratios"`
	Targets   []Target       `json:"targets"`
	Missing   []string       `json:"missing,omitempty"`
	Charts    []string       `json:"charts,omitempty"`
}
