package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/benchmarks/internal/cli"
	"github.com/rxstream/rxstream/benchmarks/internal/scenario"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

func TestMain(m *testing.M) {
	// The suite re-executes this test binary as each contender's server.
	if serving, err := cli.Serving(); serving {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestSmoke runs every scenario at its smallest size against every
// contender, once, and checks that each completes with nothing lost,
// duplicated or reordered. It checks no speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process per contender and scenario")
	}
	cfg := cli.Config{Mode: scenario.Smoke, Reps: 1, Out: t.TempDir(), Timeout: 5 * time.Minute, Command: "go test ./..."}
	r, err := cli.Run(context.Background(), cfg, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cli.Check(r) {
		t.Error(p)
	}
	// Every scenario ran for every contender it applies to.
	ran := map[string]int{}
	for _, res := range r.Results {
		ran[res.Scenario]++
	}
	for _, sc := range r.Scenarios {
		if ran[sc.Name] == 0 {
			t.Errorf("scenario %s: no result", sc.Name)
		}
	}
	for _, name := range []string{"rxstream-sse", "raw-sse"} {
		if _, ok := servers.Lookup(name); !ok {
			t.Errorf("contender %s is not registered", name)
		}
	}
	for _, f := range []string{"results.md", "results.json", "latency.png", "memory.png", "fanout.png"} {
		if _, err := os.Stat(cfg.Out + "/" + f); err != nil {
			t.Error(err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
