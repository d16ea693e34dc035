package cli

import (
	"fmt"

	"github.com/rxstream/rxstream/benchmarks/internal/report"
)

// Check returns what makes a run fail as a smoke test: a scenario that
// failed for a contender, and any event lost, duplicated or out of order,
// except where a library without a slow-client policy stalls behind the
// slow consumer (which the slow scenario exists to show), and a stream of
// a client that vanished left held or a descriptor leaked.
func Check(r *report.Report) []string {
	var problems []string
	for _, res := range r.Results {
		if len(res.Metrics) == 0 {
			problems = append(problems, fmt.Sprintf("%s %s %s: no figures %v", res.Scenario, res.Case, res.Contender, res.Notes))
			continue
		}
		if res.Scenario == "vanish" {
			r, ok1 := res.Metric("released")
			f, ok2 := res.Metric("fds_leaked")
			if !ok1 || !ok2 || r.Min < res.Params["N"] || f.Max > 0 {
				problems = append(problems, fmt.Sprintf("%s %s %s: released %v of %v, %v descriptors leaked %v",
					res.Scenario, res.Case, res.Contender, r.Min, res.Params["N"], f.Max, res.Notes))
			}
		}
		if res.Scenario == "slow" && res.Kind != "rxstream" {
			continue
		}
		for _, k := range []string{"lost", "duplicated", "out_of_order"} {
			if m, ok := res.Metric(k); ok && m.Max > 0 {
				problems = append(problems, fmt.Sprintf("%s %s %s: %v %s %v", res.Scenario, res.Case, res.Contender, m.Max, k, res.Notes))
			}
		}
	}
	return problems
}
