package servers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// EnvServe is the environment variable that turns a process into the server
// of the contender it names (see [Serve]).
const EnvServe = "RXBENCH_SERVE"

// EnvSendBuffer, when set to a number of bytes, fixes the send buffer
// (SO_SNDBUF) of the server's connections, turning off the kernel's
// autotuning, so that a client that stops reading backs up soon.
const EnvSendBuffer = "RXBENCH_SNDBUF"

// EnvWriteDelay, when set to a duration ("2ms"), is the WriteDelay of the
// rxstream SSE and WebSocket servers instead of their default (for
// measuring its cost; "-1ns" turns it off).
const EnvWriteDelay = "RXBENCH_WRITE_DELAY"

// writeDelay returns the WriteDelay that EnvWriteDelay asks for, 0 (the
// default) when it is unset or malformed.
func writeDelay() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(EnvWriteDelay))
	return d
}

// EnvHeartbeat, when set to a duration ("1s"), is the Heartbeat of the
// rxstream SSE servers instead of their default (the vanish scenario
// waits a few of them).
const EnvHeartbeat = "RXBENCH_HEARTBEAT"

// heartbeat returns the Heartbeat that EnvHeartbeat asks for, 0 (the
// default) when it is unset or malformed.
func heartbeat() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(EnvHeartbeat))
	return d
}

// streamCounter is a server that counts its open streams itself: one that
// parks idle streams, whose handlers return once they are parked.
type streamCounter interface{ Streams() (int, bool) }

// EnvCPUProfile, when set to a directory, makes each server process write
// its CPU profile there as CONTENDER-PID.pprof (a debugging aid).
const EnvCPUProfile = "RXBENCH_CPUPROFILE"

// Stats is the answer of GET /debug/stats.
type Stats struct {
	// Goroutines is runtime.NumGoroutine().
	Goroutines int `json:"goroutines"`
	// Inflight counts the requests to /sub whose handler has not returned:
	// the open streams, WebSockets and waiting long-polls; for a server
	// that parks idle streams, its open streams.
	Inflight int64 `json:"inflight"`
	// Requests counts the requests to /sub served so far.
	Requests int64 `json:"requests"`
	// FDs is the process's open descriptors (the entries of
	// /proc/self/fd), -1 where it cannot be read.
	FDs int `json:"fds"`
	// StackInuse and HeapInuse are runtime.MemStats' figures, with ?mem=1.
	StackInuse uint64 `json:"stackInuse,omitempty"`
	HeapInuse  uint64 `json:"heapInuse,omitempty"`
}

// PublishResult is the answer of POST /debug/publish.
type PublishResult struct {
	Published int `json:"published"`
	// MaxLagNs is the largest delay of a publish behind its intended time.
	MaxLagNs int64 `json:"maxLagNs"`
}

// Serve runs the server of the named contender on a fresh loopback port,
// writes "LISTEN host:port" on out, and serves until the process is
// signalled or its standard input closes (the load generator died). Besides
// GET /sub it serves:
//
//	GET  /debug/stats[?mem=1]                          Stats as JSON
//	POST /debug/publish?from=S&count=N&size=B&rate=R[&topics=K]
//	                                                   publishes events S..S+N-1
//	POST /debug/gc                                     runtime.GC and debug.FreeOSMemory
//	GET  /debug/pprof/heap                             a heap profile (pprof)
//
// With topics K > 0 each event goes to topics [TopicName](0..K-1), one
// after the other (the server must be a [Multiplexer]); without, to the
// single topic of [Server.Publish]. With rate R > 0 the events are paced open loop: event i is due at
// start+i/R and carries that intended time, so a publisher that falls
// behind shows up as latency. With rate 0 they go out back to back.
func Serve(name string, out io.Writer) error {
	c, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("servers: unknown contender %q", name)
	}
	if dir := os.Getenv(EnvCPUProfile); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, os.Getpid())))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	srv, err := c.New()
	if err != nil {
		return err
	}
	defer srv.Close()
	var inflight, requests atomic.Int64
	sub := srv.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sub", func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		requests.Add(1)
		defer inflight.Add(-1)
		sub.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		st := Stats{Goroutines: runtime.NumGoroutine(), Inflight: inflight.Load(), Requests: requests.Load(), FDs: openFDs()}
		if c, ok := srv.(streamCounter); ok {
			if n, ok := c.Streams(); ok {
				st.Inflight = int64(n) // parked streams' handlers have returned
			}
		}
		if r.URL.Query().Get("mem") != "" {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st.StackInuse, st.HeapInuse = ms.StackInuse, ms.HeapInuse
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /debug/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		w.Header().Set("Content-Type", "application/octet-stream")
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("POST /debug/publish", func(w http.ResponseWriter, r *http.Request) {
		res, err := publish(r.Context(), srv, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, res)
	})

	var lc net.ListenConfig
	if v := os.Getenv(EnvSendBuffer); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvSendBuffer, err)
		}
		lc.Control = func(_, _ string, c syscall.RawConn) error { // accepted sockets inherit it
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	hs.RegisterOnShutdown(srv.Close)
	if _, err := fmt.Fprintf(out, "LISTEN %s\n", ln.Addr()); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // the parent holds our stdin: EOF means it is gone
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// openFDs counts the process's open descriptors, the one reading the
// directory included, or returns -1.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func publish(ctx context.Context, srv Server, r *http.Request) (PublishResult, error) {
	q := r.URL.Query()
	num := func(k string, def int) (int, error) {
		v := q.Get(k)
		if v == "" {
			return def, nil
		}
		return strconv.Atoi(v)
	}
	from, err1 := num("from", 1)
	count, err2 := num("count", 1)
	size, err3 := num("size", 64)
	rate, err4 := num("rate", 0)
	topics, err5 := num("topics", 0)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return PublishResult{}, err
	}
	mux, ok := srv.(Multiplexer)
	if topics > 0 && !ok {
		return PublishResult{}, fmt.Errorf("topics=%d: the server serves one topic", topics)
	}
	var res PublishResult
	start := time.Now()
	buf := make([]byte, 0, size+40)
	for i := range count {
		due := time.Now()
		if rate > 0 {
			due = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else {
				res.MaxLagNs = max(res.MaxLagNs, int64(-d))
			}
		}
		seq := from + i
		if seq == 0 {
			due = time.Time{}
		}
		buf = Payload(buf[:0], seq, due, size)
		// Each event gets its own copy: servers may keep it (history).
		// The topics of one event share it: nobody writes to it.
		data := append([]byte(nil), buf...)
		if topics == 0 {
			if err := srv.Publish(ctx, seq, data); err != nil {
				return res, fmt.Errorf("publish %d: %w", seq, err)
			}
		}
		for t := range topics {
			if err := mux.PublishTopic(ctx, TopicName(t), seq, data); err != nil {
				return res, fmt.Errorf("publish %d to %s: %w", seq, TopicName(t), err)
			}
		}
		res.Published++
	}
	return res, nil
}

// Payload appends the data of event seq: "SEQ INTENDED_UNIX_NS " padded
// with 'x' to size bytes. A zero due time is written as 0.
func Payload(b []byte, seq int, due time.Time, size int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, ' ')
	var ns int64
	if !due.IsZero() {
		ns = due.UnixNano()
	}
	b = strconv.AppendInt(b, ns, 10)
	b = append(b, ' ')
	for len(b)-start < size {
		b = append(b, 'x')
	}
	return b
}

// ParsePayload reads the sequence number and intended time from a payload
// (or from any text that starts with one).
func ParsePayload(p []byte) (seq int, dueNs int64, ok bool) {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		seq = seq*10 + int(p[i]-'0')
		i++
	}
	if i == 0 || i >= len(p) || p[i] != ' ' {
		return 0, 0, false
	}
	i++
	j := i
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		dueNs = dueNs*10 + int64(p[i]-'0')
		i++
	}
	return seq, dueNs, i > j
}
