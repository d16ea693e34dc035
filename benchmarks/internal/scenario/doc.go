// Package scenario holds the benchmark scenarios, each a fixed amount of
// work that stops by itself, and the suite that runs them against the
// contenders, alternating their order over the repetitions.
//
//	scenario.go  Env, Sample, Case, Scenario; the subscriber group, warm-up, settling
//	config.go    Mode: the smoke, quick and full sizes
//	suite.go     Suite.Run: repetitions, alternation (of cases too, when a scenario interleaves), medians, ratios
//	idle.go      idle capacity: memory and goroutines per connection (slopes), connect rate
//	fanout.go    fan-out throughput, per wall-second and per server CPU-second
//	paced.go     paced open-loop latency (streams) and the poll transports under a broadcast rate
//	slow.go      one subscriber stops reading
//	churn.go     connects and disconnects during a paced run
//	mux.go       several topics per connection: memory per extra subscription, fan-out beside 1-topic connections
package scenario
