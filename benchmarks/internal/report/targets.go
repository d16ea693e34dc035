package report

import (
	"fmt"
	"strings"
)

// find returns the metric of a contender in the first case of scenario
// whose params match.
func find(r *Report, scenario, contender, key string, match func(map[string]float64) bool) (Metric, bool) {
	for _, res := range r.Results {
		if res.Scenario == scenario && res.Contender == contender && (match == nil || match(res.Params)) {
			if m, ok := res.Metric(key); ok {
				return m, true
			}
		}
	}
	return Metric{}, false
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func params(n, size float64) func(map[string]float64) bool {
	return func(p map[string]float64) bool { return p["N"] == n && (size == 0 || p["size"] == size) }
}

// Targets checks the project's goals against a report's figures; a goal
// the run did not measure is "n/a".
func Targets(r *Report) []Target {
	var out []Target

	// Fan-out to 1,000 SSE subscribers.
	t := Target{Name: "SSE fan-out, 1,000 subscribers, 64 B", Want: ">= 0.8x raw net/http, ahead of r3labs/sse and go-sse", Met: "n/a", Got: "not measured"}
	if rx, ok := find(r, "fanout", "rxstream-sse", "deliveries_per_s", params(1000, 64)); ok {
		var parts []string
		good := true
		for _, den := range []struct {
			name string
			min  float64
		}{{"raw-sse", 0.8}, {"r3labs-sse", 1}, {"go-sse", 1}} {
			if d, ok := find(r, "fanout", den.name, "deliveries_per_s", params(1000, 64)); ok && d.Median > 0 {
				q := rx.Median / d.Median
				parts = append(parts, fmt.Sprintf("%.2fx %s", q, den.name))
				good = good && q >= den.min
			}
		}
		t.Got = fmt.Sprintf("%s/s: %s", Num(rx.Median), strings.Join(parts, ", "))
		t.Met = met(good)
		if !good {
			t.Why = "See the fan-out tables: compare deliveries per server CPU-second, which the load generator sharing the CPUs disturbs less."
		}
	}
	out = append(out, t)

	// Memory and goroutines per idle connection.
	// (rxstream-sse parks them: its target follows.)
	raws := map[string]string{"rxstream-longpoll": "raw-longpoll", "rxstream-websocket": "raw-websocket"}
	for _, c := range []string{"rxstream-longpoll", "rxstream-websocket"} {
		any := func(map[string]float64) bool { return true }
		t := Target{Name: "memory per idle connection, " + c, Want: "<= 16 KiB (RSS slope)", Met: "n/a", Got: "not measured"}
		if m, ok := find(r, "idle", c, "kib_per_conn", any); ok {
			t.Got = Num(m.Median) + " KiB"
			t.Met = met(m.Median <= 16)
			if m.Median > 16 {
				t.Why = fmt.Sprintf("%s KiB over.", Num(m.Median-16))
				if raw, ok := find(r, "idle", raws[c], "kib_per_conn", any); ok {
					t.Why += fmt.Sprintf(" The raw baseline %s costs %s KiB (rxstream %.2fx):", raws[c], Num(raw.Median), m.Median/raw.Median)
					if m.Median <= raw.Median*1.05 {
						t.Why += " the floor is the server library's own per-connection state, not rxstream's."
					} else {
						t.Why += fmt.Sprintf(" rxstream adds %s KiB of its own.", Num(m.Median-raw.Median))
					}
				}
				if st, ok := find(r, "idle", c, "stack_kib_per_conn", any); ok {
					t.Why += fmt.Sprintf(" Goroutine stacks: %s KiB per connection.", Num(st.Median))
				}
			}
		}
		out = append(out, t)
		// net/http's own: the connection's goroutine, plus its background
		// reader while a handler runs; a hijacked WebSocket keeps only the
		// handler's goroutine.
		own := 2.0
		if strings.HasSuffix(c, "websocket") {
			own = 1
		}
		t = Target{Name: "goroutines per idle connection, " + c, Want: fmt.Sprintf("<= %g (net/http's own)", own), Met: "n/a", Got: "not measured"}
		if m, ok := find(r, "idle", c, "goroutines_per_conn", nil); ok {
			t.Got = fmt.Sprintf("%.2f", m.Median)
			t.Met = met(m.Median <= own+0.02)
			if m.Median > own+0.02 && own == 1 {
				t.Why = "The adapter runs a read loop per connection beside the handler's write loop: coder/websocket " +
					"sees close frames and pongs only while something reads."
				if raw, ok := find(r, "idle", raws[c], "goroutines_per_conn", nil); ok {
					t.Why += fmt.Sprintf(" The raw baseline (Accept + CloseRead) has %.2f too.", raw.Median)
				}
			}
		}
		out = append(out, t)
	}

	// An idle SSE stream, parked by default (issue: idle subscribers that
	// cost no goroutine).
	t = Target{Name: "memory per idle connection, rxstream-sse (parked, the default)", Want: "<= 6 KiB (RSS slope), 0 goroutines", Met: "n/a", Got: "not measured"}
	if m, ok := find(r, "idle", "rxstream-sse", "kib_per_conn", nil); ok {
		t.Got = Num(m.Median) + " KiB"
		good := m.Median <= 6
		if g, ok := find(r, "idle", "rxstream-sse", "goroutines_per_conn", nil); ok {
			t.Got += fmt.Sprintf(", %.2f goroutines", g.Median)
			good = good && g.Median <= 0.02
		}
		t.Met = met(good)
	}
	out = append(out, t)

	// A parked WebSocket topic subscriber (websocket.Options.Park): the
	// issue's target, far below net/http's own.
	t = Target{Name: "idle WebSocket topic subscriber, parked (rxstream-websocket-parked)", Want: "<= 10 KiB (RSS slope) and <= 1 goroutine", Met: "n/a", Got: "not measured"}
	if m, ok := find(r, "idle", "rxstream-websocket-parked", "kib_per_conn", func(map[string]float64) bool { return true }); ok {
		g, _ := find(r, "idle", "rxstream-websocket-parked", "goroutines_per_conn", nil)
		t.Got = fmt.Sprintf("%s KiB, %.2f goroutines", Num(m.Median), g.Median)
		t.Met = met(m.Median <= 10 && g.Median <= 1.02)
	}
	out = append(out, t)

	// Idle capacity of one process.
	t = Target{Name: "19,000 idle connections in one server process", Want: "held, 0 errors; every SSE stream beaten", Met: "n/a", Got: "not measured (full mode only)"}
	var got []string
	allHeld := true
	for _, res := range r.Results {
		if res.Scenario != "idle" || res.Params["N"] < 19000 || res.Kind != "rxstream" {
			continue
		}
		h, ok1 := res.Metric("held")
		e, ok2 := res.Metric("errors")
		if !ok1 || !ok2 {
			got = append(got, res.Contender+": failed")
			allHeld = false
			continue
		}
		line := fmt.Sprintf("%s: %s held, %s errors", res.Contender, Num(h.Min), Num(e.Max))
		if b, ok := res.Metric("beaten"); ok { // rxstream's SSE streams: each got its heartbeat
			line += fmt.Sprintf(", %s beaten", Num(b.Min))
			allHeld = allHeld && b.Min >= res.Params["N"]
		}
		got = append(got, line)
		allHeld = allHeld && h.Min >= res.Params["N"] && e.Max == 0
	}
	if len(got) > 0 {
		t.Got, t.Met = strings.Join(got, "; "), met(allHeld)
	}
	out = append(out, t)

	// Clients that leave without a FIN.
	t = Target{Name: "10,000 SSE clients that leave without a FIN", Want: "all released within 2 heartbeat intervals, 0 descriptors leaked", Met: "n/a", Got: "not measured (full mode only)"}
	got, good := nil, true
	for _, res := range r.Results {
		if res.Scenario != "vanish" || res.Params["N"] < 10000 {
			continue
		}
		hb, ok1 := res.Metric("release_heartbeats")
		f, ok2 := res.Metric("fds_leaked")
		if !ok1 || !ok2 {
			got = append(got, res.Contender+" "+res.Case+": not all released")
			good = false
			continue
		}
		got = append(got, fmt.Sprintf("%s %s: %s heartbeats at most, %s leaked", res.Contender, res.Case, Num(hb.Max), Num(f.Max)))
		good = good && hb.Max <= 2 && f.Max == 0
	}
	if len(got) > 0 {
		t.Got, t.Met = strings.Join(got, "; "), met(good)
	}
	out = append(out, t)

	// A stalled subscriber beside 1,000 live ones, on the parked default:
	// no shared writer waits for it.
	t = Target{Name: "1 stalled + 1,000 live SSE subscribers (parked)", Want: "the live ones at full pace (>= 95%), 0 lost", Met: "n/a", Got: "not measured (full mode only)"}
	slow := func(ps map[string]float64) bool { return ps["N"] == 1000 }
	if d, ok := find(r, "slow", "rxstream-sse", "deliveries_per_s", slow); ok {
		for _, res := range r.Results {
			if res.Scenario != "slow" || res.Contender != "rxstream-sse" || !slow(res.Params) {
				continue
			}
			full := res.Params["N"] * res.Params["rate"]
			lost, _ := res.Metric("lost")
			t.Got = fmt.Sprintf("%s of %s deliveries/s (%.0f%%), %s lost", Num(d.Median), Num(full), 100*d.Median/full, Num(lost.Max))
			t.Met = met(d.Median >= 0.95*full && lost.Max == 0)
		}
	}
	out = append(out, t)

	// p99 latency at 1,000 subscribers x 100 events/s.
	t = Target{Name: "SSE p99 latency, 1,000 subscribers x 100 events/s", Want: "<= 1.2x raw net/http", Met: "n/a", Got: "not measured (full mode only)"}
	p := func(ps map[string]float64) bool { return ps["N"] == 1000 && ps["rate"] == 100 }
	if rx, ok := find(r, "paced", "rxstream-sse", "p99_ms", p); ok {
		if raw, ok := find(r, "paced", "raw-sse", "p99_ms", p); ok && raw.Median > 0 {
			q := rx.Median / raw.Median
			t.Got = fmt.Sprintf("%s ms vs %s ms (%.2fx)", Num(rx.Median), Num(raw.Median), q)
			t.Met = met(q <= 1.2)
			if q > 1.2 {
				t.Why = fmt.Sprintf("%.0f%% over the 1.2x bound.", (q/1.2-1)*100)
			}
		}
	}
	out = append(out, t)

	out = append(out, hotPath(r)...)

	// Nothing lost.
	t = Target{Name: "0 lost, duplicated or out of order, every rxstream transport and scenario", Want: "0", Met: "n/a", Got: "not measured"}
	var bad []string
	n := 0
	for _, res := range r.Results {
		if res.Kind != "rxstream" {
			continue
		}
		for _, k := range []string{"lost", "duplicated", "out_of_order"} {
			if m, ok := res.Metric(k); ok {
				n++
				if m.Max > 0 {
					bad = append(bad, fmt.Sprintf("%s %s %s: %s %s", res.Contender, res.Scenario, res.Case, Num(m.Max), k))
				}
			}
		}
	}
	if n > 0 {
		t.Got, t.Met = "0 everywhere", "yes"
		if len(bad) > 0 {
			t.Got, t.Met = strings.Join(bad, "; "), "no"
		}
	}
	out = append(out, t)
	return out
}

// ratio returns a/b of one metric of two contenders in the fan-out case
// of n subscribers and size bytes, and whether both were measured.
func ratio(r *Report, scenario, a, b, key string, match func(map[string]float64) bool) (va, vb, q float64, ok bool) {
	ma, ok1 := find(r, scenario, a, key, match)
	mb, ok2 := find(r, scenario, b, key, match)
	if !ok1 || !ok2 || mb.Median <= 0 {
		return 0, 0, 0, false
	}
	return ma.Median, mb.Median, ma.Median / mb.Median, true
}

// hotPath checks the goals of the hot path: the per-CPU rate up to
// 10,000 SSE subscribers, WebSocket batches, 1 KiB events, p99.
func hotPath(r *Report) []Target {
	var out []Target
	const cpu = "deliveries_per_cpu_s"

	t := Target{Name: "SSE fan-out, 10,000 subscribers, 64 B, per server CPU-second", Want: ">= 2x r3labs/sse and >= 0.5x rxstream's own at 1,000", Met: "n/a", Got: "not measured"}
	if rx, peer, q, ok := ratio(r, "fanout", "rxstream-sse", "r3labs-sse", cpu, params(10000, 64)); ok {
		t.Got = fmt.Sprintf("%s/CPU-s: %.2fx r3labs-sse (%s)", Num(rx), q, Num(peer))
		good := q >= 2
		if own, ok := find(r, "fanout", "rxstream-sse", cpu, params(1000, 64)); ok && own.Median > 0 {
			f := rx / own.Median
			t.Got += fmt.Sprintf(", %.2fx its own at 1,000 (%s)", f, Num(own.Median))
			good = good && f >= 0.5
		}
		t.Met = met(good)
		if !good {
			t.Why = "Each delivery at 10,000 subscribers carries few events per write system call (see writes/delivery in the fan-out table); raw net/http falls as far."
			if rawq, ok := find(r, "fanout", "raw-sse", cpu, params(10000, 64)); ok && rawq.Median > 0 {
				t.Why += fmt.Sprintf(" rxstream %.2fx raw-sse there.", rx/rawq.Median)
			}
		}
	}
	out = append(out, t)

	t = Target{Name: "WebSocket fan-out, 1,000 subscribers, 64 B", Want: ">= 2x gorilla/websocket deliveries/s", Met: "n/a", Got: "not measured"}
	if rx, peer, q, ok := ratio(r, "fanout", "rxstream-websocket", "gorilla-websocket", "deliveries_per_s", params(1000, 64)); ok {
		t.Got = fmt.Sprintf("%s/s vs %s/s (%.2fx)", Num(rx), Num(peer), q)
		t.Met = met(q >= 2)
	}
	out = append(out, t)

	t = Target{Name: "SSE fan-out, 1,000 subscribers, 1 KiB", Want: ">= 1.0x raw net/http per CPU-second, p99 <= 1.2x raw", Met: "n/a", Got: "not measured"}
	if _, _, q, ok := ratio(r, "fanout", "rxstream-sse", "raw-sse", cpu, params(1000, 1024)); ok {
		t.Got = fmt.Sprintf("%.2fx raw-sse per CPU-second", q)
		good := q >= 1
		if rx, raw, p, ok := ratio(r, "fanout", "rxstream-sse", "raw-sse", "p99_ms", params(1000, 1024)); ok {
			t.Got += fmt.Sprintf(", p99 %s ms vs %s ms (%.2fx)", Num(rx), Num(raw), p)
			good = good && p <= 1.2
		}
		t.Met = met(good)
	}
	out = append(out, t)
	return out
}
