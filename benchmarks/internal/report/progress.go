package report

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress writes a line per step of a run: scenario, case, contender,
// repetition, the step's duration and the time since the start.
type Progress struct {
	W     io.Writer
	Start time.Time
	mu    sync.Mutex
}

// Step reports one finished step; err, when not nil, is shown after it.
func (p *Progress) Step(scenario, cs, contender string, rep, reps int, took time.Duration, err error) {
	if p == nil || p.W == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tail := ""
	if err != nil {
		tail = "  ERROR: " + err.Error()
	}
	fmt.Fprintf(p.W, "[%7s] %-8s %-22s %-20s rep %d/%d  %6.2fs%s\n",
		time.Since(p.Start).Round(time.Second), scenario, cs, contender, rep, reps, took.Seconds(), tail)
}

// Note writes a free line.
func (p *Progress) Note(format string, args ...any) {
	if p == nil || p.W == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.W, "[%7s] "+format+"\n", append([]any{time.Since(p.Start).Round(time.Second)}, args...)...)
}
