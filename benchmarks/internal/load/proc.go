package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// Proc is a server process running one contender (see [servers.Serve]).
type Proc struct {
	Name string
	Addr string // host:port
	PID  int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ctl    *http.Client
	errBuf *tailBuffer
	waited chan struct{}
}

// Start runs the contender's server in a new process: this executable
// again, with [servers.EnvServe] set, and env added to its environment.
// With cpus non-empty the process is started under taskset on those CPUs.
func Start(ctx context.Context, name, cpus string, env ...string) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if cpus != "" {
		cmd = exec.Command("taskset", "-c", cpus, exe) // taskset execs exe: same PID
	} else {
		cmd = exec.Command(exe)
	}
	cmd.Env = append(append(os.Environ(), servers.EnvServe+"="+name), env...)
	p := &Proc{Name: name, cmd: cmd, errBuf: &tailBuffer{max: 4096}, waited: make(chan struct{})}
	cmd.Stderr = p.errBuf
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.PID = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(p.waited) }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "LISTEN ")
		if !ok {
			p.Stop()
			return nil, fmt.Errorf("server %s did not start: %q %s", name, s, p.errBuf)
		}
		p.Addr = addr
	case <-time.After(10 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("server %s did not start in 10s: %s", name, p.errBuf)
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	}
	p.ctl = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	return p, nil
}

// Stop ends the process and waits for it.
func (p *Proc) Stop() {
	_ = p.stdin.Close()
	select {
	case <-p.waited:
	case <-time.After(2 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.waited
	}
	if p.ctl != nil {
		p.ctl.CloseIdleConnections()
	}
}

// Stderr returns the end of what the server wrote on its standard error.
func (p *Proc) Stderr() string { return p.errBuf.String() }

func (p *Proc) call(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.Addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.ctl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(body))
	}
	if v != nil {
		return json.Unmarshal(body, v)
	}
	return nil
}

// Stats asks the server for its goroutines and open requests.
func (p *Proc) Stats(ctx context.Context) (servers.Stats, error) {
	var s servers.Stats
	err := p.call(ctx, http.MethodGet, "/debug/stats", &s)
	return s, err
}

// MemStats is Stats with the runtime's stack and heap figures (it stops
// the server's world briefly).
func (p *Proc) MemStats(ctx context.Context) (servers.Stats, error) {
	var s servers.Stats
	err := p.call(ctx, http.MethodGet, "/debug/stats?mem=1", &s)
	return s, err
}

// Publish asks the server to publish events from..from+count-1 of size
// bytes at rate events/s (0: back to back); it returns when they are out.
func (p *Proc) Publish(ctx context.Context, from, count, size, rate int) (servers.PublishResult, error) {
	return p.PublishTopics(ctx, from, count, size, rate, 0)
}

// PublishTopics is Publish to each of topics [servers.TopicName](0..topics-1),
// event after event; topics 0 is Publish.
func (p *Proc) PublishTopics(ctx context.Context, from, count, size, rate, topics int) (servers.PublishResult, error) {
	var r servers.PublishResult
	path := fmt.Sprintf("/debug/publish?from=%d&count=%d&size=%d&rate=%d", from, count, size, rate)
	if topics > 0 {
		path += fmt.Sprintf("&topics=%d", topics)
	}
	err := p.call(ctx, http.MethodPost, path, &r)
	return r, err
}

// HeapProfile returns the server's heap profile (pprof format) after a GC.
func (p *Proc) HeapProfile(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+"/debug/pprof/heap", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.ctl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("heap profile: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// GC runs the server's garbage collector and returns freed memory to the OS.
func (p *Proc) GC(ctx context.Context) error {
	return p.call(ctx, http.MethodPost, "/debug/gc", nil)
}

// RSS returns the server's resident set size in bytes (VmRSS).
func (p *Proc) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// clockTick is USER_HZ, 100 on every Linux the benchmarks run on.
const clockTick = 100

// CPU returns the server's user+system CPU time so far.
func (p *Proc) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// Writes returns the number of write system calls the server made so far
// (syscw of /proc/PID/io: write, writev, sendmsg and the like).
func (p *Proc) Writes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.PID))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no syscw")
}

// WaitInflight polls the server until at least n requests are in flight
// (or, with atMost, until at most n are), or timeout.
func (p *Proc) WaitInflight(ctx context.Context, n int64, atMost bool, timeout time.Duration) (servers.Stats, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := p.Stats(ctx)
		if err != nil {
			return s, err
		}
		if (!atMost && s.Inflight >= n) || (atMost && s.Inflight <= n) {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("%d requests in flight after %v, want %d", s.Inflight, timeout, n)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
