// Command rxbench runs the rxstream benchmarks: every transport against
// hand-written net/http and coder/websocket baselines and against peer
// libraries, each server in its own process. Run it inside the benchmarks
// module:
//
//	go run ./cmd/rxbench          # full mode: writes results/ (about 15 minutes)
//	go run ./cmd/rxbench -quick   # the CI smoke run (under 2 minutes)
//
// See -help for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/rxstream/rxstream/benchmarks/internal/cli"
	"github.com/rxstream/rxstream/benchmarks/internal/scenario"
)

func main() {
	if serving, err := cli.Serving(); serving {
		if err != nil {
			fmt.Fprintln(os.Stderr, "rxbench server:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := cli.Parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := cli.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rxbench:", err)
		os.Exit(1)
	}
	for _, t := range r.Targets {
		fmt.Printf("%-4s %s: %s (want %s)\n", t.Met, t.Name, t.Got, t.Want)
	}
	if cfg.Mode != scenario.Full {
		if problems := cli.Check(r); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, "rxbench: FAIL:", p)
			}
			os.Exit(1)
		}
		fmt.Println("rxbench: every scenario completed with nothing lost")
	}
}
