package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/scenario"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// expected are the rxstream contenders a complete build has.
var expected = []string{"rxstream-sse", "rxstream-longpoll", "rxstream-shortpoll", "rxstream-websocket"}

// capacity is the idle connections the full mode holds in one process.
const capacity = 19000

// Serving reports whether this process was started as a contender's
// server, and if so serves it until told to stop; the caller then exits.
func Serving() (bool, error) {
	name := os.Getenv(servers.EnvServe)
	if name == "" {
		return false, nil
	}
	return true, servers.Serve(name, os.Stdout)
}

// Config is what the flags set.
type Config struct {
	Mode       scenario.Mode
	Reps       int
	Out        string
	Pin        bool
	Scenarios  []string // empty: all
	Contenders []string // empty: all
	Cases      []string // case names to run, as the tables title them; empty: all
	Timeout    time.Duration
	Command    string
}

// Parse reads the command line.
func Parse(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("rxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small sizes, one repetition (the CI smoke run, under 2 minutes)")
	smoke := fs.Bool("smoke", false, "the smallest sizes (what go test runs)")
	reps := fs.Int("reps", 0, "repetitions per comparison (default 5 in full mode, 1 in quick)")
	out := fs.String("out", "", "directory for results.md, results.json and the charts (default results/ in full mode, a temporary directory otherwise)")
	pin := fs.Bool("pin", false, "pin the server to CPU 0 and the load generator to the other CPUs (taskset)")
	only := fs.String("scenarios", "", "comma-separated scenarios to run: idle,fanout,paced,poll,slow,churn,vanish,muxmem,muxfanout (default all)")
	cons := fs.String("contenders", "", "comma-separated contenders to run (default all)")
	cases := fs.String("cases", "", "comma-separated case names to run, as the tables title them, for example 'N=1000 1024B' (default all)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	list := fs.Bool("list", false, "list the contenders and exit")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if *list {
		for _, c := range servers.All() {
			fmt.Fprintf(stderr, "%-20s %-10s %s\n", c.Name, c.Transport, c.Kind)
		}
		return Config{}, flag.ErrHelp
	}
	c := Config{Mode: scenario.Full, Reps: *reps, Out: *out, Pin: *pin, Timeout: *timeout,
		Command: strings.TrimSpace("go run ./cmd/rxbench " + strings.Join(args, " "))}
	switch {
	case *smoke:
		c.Mode = scenario.Smoke
	case *quick:
		c.Mode = scenario.Quick
	}
	if c.Reps <= 0 {
		c.Reps = c.Mode.DefaultReps()
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	c.Scenarios, c.Contenders, c.Cases = split(*only), split(*cons), split(*cases)
	return c, nil
}

// Run runs the suite of cfg and writes its outputs; it returns the report.
func Run(ctx context.Context, cfg Config, stderr io.Writer) (*report.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	start := time.Now()
	r := &report.Report{Mode: cfg.Mode.String(), Command: cfg.Command, Machine: report.ThisMachine(), Started: start.UTC()}
	suite := scenario.Suite{Reps: cfg.Reps, Progress: &report.Progress{W: stderr, Start: start}}
	if cfg.Pin {
		if err := pinSelf(r.Machine.Cores); err != nil {
			return nil, err
		}
		suite.Env.ServerCPUs = "0"
		r.Machine.Pinned = "server on CPU 0 (so GOMAXPROCS 1 there), load generator on CPU 1"
		if r.Machine.Cores > 2 {
			r.Machine.Pinned = fmt.Sprintf("server on CPU 0 (so GOMAXPROCS 1 there), load generator on CPUs 1-%d", r.Machine.Cores-1)
		}
	}
	for _, c := range servers.All() {
		if len(cfg.Contenders) == 0 || slices.Contains(cfg.Contenders, c.Name) {
			suite.Contenders = append(suite.Contenders, c)
		}
	}
	for _, name := range expected {
		if _, ok := servers.Lookup(name); !ok {
			r.Missing = append(r.Missing, name+" (its adapter was not in the build)")
		}
	}
	hold := 0
	if cfg.Mode == scenario.Full {
		if r.Machine.FileLimit >= capacity+500 {
			hold = capacity
		} else {
			r.Missing = append(r.Missing, fmt.Sprintf("holding %d idle connections (open-file limit %d)", capacity, r.Machine.FileLimit))
		}
	}
	for _, sc := range cfg.Mode.Scenarios(hold) {
		if len(cfg.Scenarios) > 0 && !slices.Contains(cfg.Scenarios, sc.Name) {
			continue
		}
		if len(cfg.Cases) > 0 {
			sc.Cases = slices.DeleteFunc(sc.Cases, func(c scenario.Case) bool { return !slices.Contains(cfg.Cases, c.Name) })
			if len(sc.Cases) == 0 {
				continue
			}
		}
		suite.Scenarios = append(suite.Scenarios, sc)
	}
	if len(suite.Scenarios) == 0 || len(suite.Contenders) == 0 {
		return nil, errors.New("rxbench: no scenario, case or contender selected")
	}
	suite.Progress.Note("rxbench %s mode: %d scenarios, %d contenders, %d repetitions", cfg.Mode, len(suite.Scenarios), len(suite.Contenders), cfg.Reps)
	if err := suite.Run(ctx, r); err != nil {
		return r, err
	}
	r.Elapsed = time.Since(start).Round(time.Second).String()
	r.Targets = report.Targets(r)
	out := cfg.Out
	if out == "" {
		if cfg.Mode == scenario.Full {
			out = "results"
		} else {
			d, err := os.MkdirTemp("", "rxbench-"+cfg.Mode.String()+"-")
			if err != nil {
				return r, err
			}
			out = d
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return r, err
	}
	if err := report.WriteCharts(r, out); err != nil {
		return r, err
	}
	if err := report.WriteFiles(r, out); err != nil {
		return r, err
	}
	suite.Progress.Note("wrote %s", filepath.Join(out, "results.md"))
	return r, nil
}

// pinSelf moves every thread of this process to the CPUs after the first.
func pinSelf(cores int) error {
	if cores < 2 {
		return errors.New("rxbench: -pin needs at least 2 CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("rxbench: -pin needs taskset")
	}
	cpus := "1-" + strconv.Itoa(cores-1)
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rxbench: taskset: %v: %s", err, out)
	}
	return nil
}
