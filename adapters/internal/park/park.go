package park

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Why says what made a [Task] run: any of its bits, gathered since the
// last run.
type Why uint32

// The reasons of a run.
const (
	// Woken: [Conn.Wake] was called (news, a context that ended).
	Woken Why = 1 << iota
	// Beat: the connection has written nothing for Heartbeat.
	Beat
	// HungUp: the peer hung up, or a write of what the socket had not
	// taken failed ([Conn.Err] says how).
	HungUp
	// Readable: the socket of a connection that watches reads (see
	// [Conn.WatchReads]) has something to read, or was hung up on (its
	// read says which).
	Readable

	whyMask = Woken | Beat | HungUp | Readable
)

// The state bits of a Conn beside its pending reasons.
const (
	running = 1 << 30 // a goroutine runs (or is about to run) the Task, or its holder holds it
	closed  = 1 << 31 // Close was called
)

// Task is what a parked connection does when something is due.
type Task interface {
	// Run does what why says is due: it writes with c.Write, and ends the
	// connection with c.Close. It is called by one goroutine at a time,
	// never concurrently with itself; it must not block, except where
	// [Conn.Write] does.
	Run(c *Conn, why Why)
}

// Loop holds parked connections (see the package doc). Set its fields
// before the first Park and leave them; the zero Loop parks with neither
// heartbeats nor write deadlines. All methods may be called concurrently.
type Loop struct {
	// Heartbeat, when positive, runs a Task with [Beat] once its
	// connection has written nothing for that long.
	Heartbeat time.Duration
	// WriteTimeout, when positive, bounds each blocking write of a
	// connection on a goroutine of its own.
	WriteTimeout time.Duration

	mu sync.Mutex
	e  *engine // while the Loop holds a connection
}

// engine is the goroutines and structures of a Loop while it holds
// connections; the last Close stops it, and the next Park starts another.
type engine struct {
	l *Loop
	p *poller
	n int // connections held; guarded by l.mu

	mu         sync.Mutex
	conns      map[uint64]*Conn // by poller id
	nextID     uint64
	queue      []*Conn // due, waiting for a writer
	head, tail *Conn   // the heartbeat list, oldest write first

	sig  chan struct{} // a connection was queued
	kick chan struct{} // the heartbeat list had its first entry
	stop chan struct{} // closed when the last connection closed
}

// Conn is a connection held by a [Loop]. Wake and Park may be called from
// any goroutine; Write, Close and Err only by its Task's Run.
type Conn struct {
	l     *Loop
	e     *engine
	t     Task
	state atomic.Uint32

	nc   net.Conn
	rc   syscall.RawConn // nil: the poller cannot watch it
	fd   int
	id   uint64
	own  bool   // Run is on a goroutine of the connection's own
	read bool   // the poller reports readability as Readable (see WatchReads)
	rest []byte // what the socket did not take
	err  error  // the write error that ended the connection

	// guarded by e.mu
	prev, next *Conn
	last       time.Time
	listed     bool
}

// ErrUnsupported is what Park returns where parking is not supported.
var ErrUnsupported = errors.New("rxstream: parking connections is not supported on this platform")

// Hold returns the Conn that t will run once it is parked: until
// [Conn.Park], the caller holds it, and Wake only records why it will run.
func (l *Loop) Hold(t Task) *Conn {
	c := &Conn{l: l, t: t}
	c.state.Store(running)
	return c
}

// Park hands nc over to the Loop: from now on the Loop owns it, and
// closes it when the Task calls Close. The holder must not touch c or nc
// after Park succeeds. Park fails (and nc stays the caller's) where
// parking is not supported; nc without a descriptor is held without the
// poller (see the package doc).
func (c *Conn) Park(nc net.Conn) error {
	if !Supported {
		return ErrUnsupported
	}
	c.nc = nc
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	l := c.l
	l.mu.Lock()
	e := l.e
	if e == nil {
		var err error
		if e, err = l.start(); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	e.n++
	l.mu.Unlock()
	c.e = e
	e.mu.Lock()
	e.nextID++
	c.id = e.nextID
	if c.rc != nil {
		e.conns[c.id] = c
	}
	e.touchLocked(c, time.Now())
	e.mu.Unlock()
	if c.rc != nil {
		fd, err := e.p.add(c.rc, c.id, c.read)
		if err != nil {
			c.rc = nil // held without the poller
		}
		c.fd = fd
		if err == nil && l.Heartbeat > 0 {
			// A peer that vanished without a reset (its host gone, a
			// black hole) never answers the heartbeat, which the
			// kernel would retransmit for about 15 minutes
			// (tcp_retries2): give up after a heartbeat interval (or the
			// write timeout, if longer) of unacknowledged data instead,
			// which the poller then reports as a hang-up.
			unacked(c.rc, max(l.Heartbeat, l.WriteTimeout))
		}
	}
	if !c.release(false) {
		c.e.enqueue(c) // reasons came while it was held
	}
	return nil
}

// Supported reports whether [Conn.Park] can work on this platform.
const Supported = supported

// Request reports whether the connection of r can be parked once its
// handler is done with it: parking is supported here, r came over
// HTTP/1.x without TLS on TCP, and its context has no deadline, which a
// parked connection would no longer see. Each transport adds its own
// conditions.
func Request(r *http.Request) bool {
	if !Supported || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	if _, ok := r.Context().Deadline(); ok {
		return false
	}
	_, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return ok
}

func (l *Loop) start() (*engine, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	n := runtime.GOMAXPROCS(0)
	e := &engine{l: l, p: p, conns: make(map[uint64]*Conn),
		sig: make(chan struct{}, n), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	for range n {
		go e.writer()
	}
	go e.poll()
	if l.Heartbeat > 0 {
		go e.beats()
	}
	l.e = e
	return e, nil
}

// Len returns the number of connections the Loop holds.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.e == nil {
		return 0
	}
	return l.e.n
}

// Wake schedules a run of the Task with [Woken]. It never blocks.
func (c *Conn) Wake() { c.wake(Woken) }

func (c *Conn) wake(why Why) {
	for {
		old := c.state.Load()
		if old&closed != 0 {
			return
		}
		nw := old | uint32(why)
		if old&running == 0 {
			nw |= running
		}
		if c.state.CompareAndSwap(old, nw) {
			if old&running == 0 {
				c.e.enqueue(c)
			}
			return
		}
	}
}

func (e *engine) enqueue(c *Conn) {
	if c.rc == nil {
		go c.run(true) // the poller cannot watch it: writes may block
		return
	}
	e.mu.Lock()
	e.queue = append(e.queue, c)
	e.mu.Unlock()
	select {
	case e.sig <- struct{}{}:
	default: // every writer has a signal waiting: they drain the queue
	}
}

// writer is one of the shared writers.
func (e *engine) writer() {
	for {
		e.mu.Lock()
		if len(e.queue) > 0 {
			c := e.queue[0]
			e.queue[0] = nil
			e.queue = e.queue[1:]
			e.mu.Unlock()
			c.run(false)
			continue
		}
		e.queue = nil // let a burst's queue go
		e.mu.Unlock()
		select {
		case <-e.sig:
		case <-e.stop:
			return
		}
	}
}

// run runs the Task until nothing is due, on a shared writer or (own) on
// a goroutine of the connection's own, to which it moves when the socket
// does not take a write at once.
func (c *Conn) run(own bool) {
	c.own = own
	for {
		old := c.state.Load()
		for !c.state.CompareAndSwap(old, running) {
			old = c.state.Load()
		}
		why := Why(old) & whyMask
		if c.rest != nil && c.err == nil {
			c.drain()
		}
		if c.err != nil {
			why |= HungUp
		}
		c.t.Run(c, why)
		if c.state.Load()&closed != 0 {
			return
		}
		if c.rest != nil && !own {
			go c.run(true) // still running: no one else runs it meanwhile
			return
		}
		if c.release(own) {
			return
		}
	}
}

// release lets go of the Conn after a run; it reports false when a reason
// came meanwhile, and the caller runs the Task again.
func (c *Conn) release(own bool) bool {
	if own && c.l.WriteTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Time{}) // shared writers never wait
	}
	for {
		old := c.state.Load()
		if Why(old)&whyMask != 0 {
			if c.e == nil || own || c.rc == nil {
				return false
			}
			// Back to the queue: a busy connection takes its turn.
			c.e.enqueue(c)
			return true
		}
		if c.state.CompareAndSwap(old, old&^running) {
			return true
		}
	}
}

// drain writes what the socket did not take, on the connection's own
// goroutine, under WriteTimeout.
func (c *Conn) drain() {
	rest := c.rest
	c.rest = nil
	if c.l.WriteTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.l.WriteTimeout))
	}
	if _, err := c.nc.Write(rest); err != nil {
		c.err = err
	}
	c.touch()
}

// Write writes bufs, in order, as one write where it can. On a shared
// writer it never waits: what the socket does not take at once is kept and
// written first on a goroutine of the connection's own once Run returns
// (later writes of the run are kept after it). It returns the error of a
// failed write, then and at every later call (see [Conn.Err]).
func (c *Conn) Write(bufs ...[]byte) error {
	if c.err != nil {
		return c.err
	}
	if c.rest != nil {
		for _, b := range bufs {
			c.rest = append(c.rest, b...)
		}
		return nil
	}
	defer c.touch()
	if c.own || c.rc == nil {
		if c.l.WriteTimeout > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.l.WriteTimeout))
		}
		nb := net.Buffers(bufs)
		if _, err := nb.WriteTo(c.nc); err != nil {
			c.err = err
		}
		return c.err
	}
	n, err := writeNow(c.rc, bufs)
	if err != nil {
		c.err = err
		return err
	}
	for _, b := range bufs {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		c.rest = append(c.rest, b[n:]...)
		n = 0
	}
	return nil
}

// Blocked reports whether the socket did not take all that was written:
// the rest is written on a goroutine of the connection's own once Run
// returns.
func (c *Conn) Blocked() bool { return c.rest != nil }

// Err returns the error of the write that failed, if one did.
func (c *Conn) Err() error { return c.err }

// touch records a write now: the next beat is due Heartbeat later.
func (c *Conn) touch() {
	if c.l.Heartbeat <= 0 || c.e == nil {
		return
	}
	c.e.mu.Lock()
	if c.state.Load()&closed == 0 {
		c.e.touchLocked(c, time.Now())
	}
	c.e.mu.Unlock()
}

// touchLocked moves c to the tail of the heartbeat list with last = now.
func (e *engine) touchLocked(c *Conn, now time.Time) {
	if e.l.Heartbeat <= 0 {
		return
	}
	e.unlinkLocked(c)
	c.last, c.listed, c.prev = now, true, e.tail
	if e.tail != nil {
		e.tail.next = c
	} else {
		e.head = c
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	e.tail = c
}

func (e *engine) unlinkLocked(c *Conn) {
	if !c.listed {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		e.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		e.tail = c.prev
	}
	c.prev, c.next, c.listed = nil, nil, false
}

// beats is the one timer of the heartbeat list: it wakes each connection
// that has written nothing for Heartbeat, and moves it to the tail, so
// that it beats once per Heartbeat even when its Task writes nothing.
func (e *engine) beats() {
	hb := e.l.Heartbeat
	t := time.NewTimer(hb)
	defer t.Stop()
	var due []*Conn
	for {
		wait := time.Duration(-1)
		now := time.Now()
		e.mu.Lock()
		for c := e.head; c != nil; c = e.head {
			if d := c.last.Add(hb).Sub(now); d > 0 {
				wait = d
				break
			}
			e.touchLocked(c, now)
			due = append(due, c)
		}
		e.mu.Unlock()
		for i, c := range due {
			c.wake(Beat)
			due[i] = nil
		}
		due = due[:0]
		if wait < 0 {
			select {
			case <-e.kick:
				continue
			case <-e.stop:
				return
			}
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-e.stop:
			return
		}
	}
}

// Close ends the connection: it leaves the poller and the heartbeat list
// and its socket is closed; later wakes do nothing. It is called by the
// Task's Run, once.
func (c *Conn) Close() {
	for {
		old := c.state.Load()
		if c.state.CompareAndSwap(old, old|closed) {
			break
		}
	}
	e := c.e
	e.mu.Lock()
	e.unlinkLocked(c)
	delete(e.conns, c.id)
	e.mu.Unlock()
	if c.rc != nil {
		e.p.del(c.fd) // before the descriptor can be reused
	}
	_ = c.nc.Close()
	c.l.mu.Lock()
	e.n--
	last := e.n == 0
	if last {
		c.l.e = nil
	}
	c.l.mu.Unlock()
	if last {
		close(e.stop)
		e.p.close()
	}
}

// poll is the poller's goroutine: it wakes each connection whose peer
// hung up, or that has something to read, until the poller is closed.
func (e *engine) poll() {
	e.p.wait(func(id uint64) {
		e.mu.Lock()
		c := e.conns[id]
		e.mu.Unlock()
		switch {
		case c != nil && c.read:
			c.wake(Readable) // its read sees the hang-up
		case c != nil:
			c.wake(HungUp)
		}
	})
}
