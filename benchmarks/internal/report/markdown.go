package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// WriteFiles writes results.md and results.json into dir.
func WriteFiles(r *Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	if err := Markdown(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Num formats a figure with three significant digits and k/M suffixes.
func Num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case a >= 10e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 100e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 10e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func cell(m Metric, reps int) string {
	if len(m.Values) <= 1 || m.Min == m.Max {
		return Num(m.Median)
	}
	return fmt.Sprintf("%s (%s-%s)", Num(m.Median), Num(m.Min), Num(m.Max))
}

// Markdown writes the report as Markdown: the header, the targets, a table
// per scenario case (median, with min-max over repetitions), the ratios
// and the charts.
func Markdown(w io.Writer, r *Report) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# rxstream benchmarks (%s mode)\n\n", r.Mode)
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s; GOMAXPROCS %d; open-file limit %d\n", m.CPU, m.Cores, m.OS, m.GOMAXPROCS, m.FileLimit)
	fmt.Fprintf(&b, "- Go: %s; date: %s; run took %s\n", m.GoVersion, m.Date, r.Elapsed)
	if m.Pinned != "" {
		fmt.Fprintf(&b, "- CPU pinning: %s\n", m.Pinned)
	}
	fmt.Fprintf(&b, "- Repetitions: up to %d per comparison (each table says how many), contenders alternated, "+
		"a fresh server process per run; cells are median (min-max)\n", r.Reps)
	fmt.Fprintf(&b, "- Command: `%s`\n", r.Command)
	if len(r.Missing) > 0 {
		fmt.Fprintf(&b, "- Not measured: %s\n", strings.Join(r.Missing, "; "))
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n## Targets\n\n| target | wanted | measured | met | why (when missed) |\n|---|---|---|---|---|\n")
		for _, t := range r.Targets {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t.Name, t.Want, t.Got, t.Met, t.Why)
		}
	}
	for _, sc := range r.Scenarios {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", sc.Title, sc.About)
		for _, cs := range cases(r, sc.Name) {
			n := 0
			for _, res := range r.Results {
				if res.Scenario == sc.Name && res.Case == cs {
					n = max(n, res.Reps)
				}
			}
			fmt.Fprintf(&b, "\n### %s (%d repetition%s)\n\n| contender |", cs, n, map[bool]string{true: "s"}[n > 1])
			for _, ms := range sc.Metrics {
				t := ms.Title
				if ms.Unit != "" {
					t += " (" + ms.Unit + ")"
				}
				fmt.Fprintf(&b, " %s |", t)
			}
			b.WriteString("\n|---|" + strings.Repeat("---:|", len(sc.Metrics)) + "\n")
			var notes []string
			for _, res := range r.Results {
				if res.Scenario != sc.Name || res.Case != cs {
					continue
				}
				fmt.Fprintf(&b, "| %s |", res.Contender)
				for _, ms := range sc.Metrics {
					if mt, ok := res.Metric(ms.Key); ok {
						fmt.Fprintf(&b, " %s |", cell(mt, r.Reps))
					} else {
						b.WriteString(" - |")
					}
				}
				b.WriteString("\n")
				for _, n := range res.Notes {
					notes = append(notes, res.Contender+": "+n)
				}
			}
			if rs := ratiosOf(r, sc.Name, cs); len(rs) > 0 {
				fmt.Fprintf(&b, "\nRatios on %s: %s\n", sc.Key, strings.Join(rs, ", "))
			}
			if len(notes) > 0 {
				b.WriteString("\n<details><summary>notes</summary>\n\n")
				for _, n := range notes {
					fmt.Fprintf(&b, "- %s\n", n)
				}
				b.WriteString("\n</details>\n")
			}
		}
	}
	if len(r.Charts) > 0 {
		b.WriteString("\n## Charts\n\n")
		for _, c := range r.Charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(c, ".png"), c)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cases(r *Report, scenario string) []string {
	var out []string
	seen := map[string]bool{}
	for _, res := range r.Results {
		if res.Scenario == scenario && !seen[res.Case] {
			seen[res.Case] = true
			out = append(out, res.Case)
		}
	}
	return out
}

func ratiosOf(r *Report, scenario, cs string) []string {
	var out []string
	for _, q := range r.Ratios {
		if q.Scenario == scenario && q.Case == cs {
			out = append(out, fmt.Sprintf("%s ÷ %s = **%.2f**", q.Num, q.Den, q.Value))
		}
	}
	return out
}
