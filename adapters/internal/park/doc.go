// Package park holds idle connections without a goroutine of their own, the
// way a non-blocking server does: a stream taken over from net/http after
// its headers (http.Hijacker) is parked in a [Loop], and is then only a
// socket, its subscription and a few hundred bytes of state until
// something is due.
//
// A Loop owns, for all of its parked connections:
//
//   - one poller (Linux epoll, EPOLLRDHUP) that watches every parked
//     socket for the peer's hang-up (a FIN, or a reset) and reports it at
//     once, and, for a connection that reads ([Conn.WatchReads]: a
//     WebSocket's), for something to read (EPOLLIN, [Readable]), which it
//     then reads without waiting ([Conn.Read]);
//   - one heartbeat list, ordered by each connection's last write, and one
//     timer over it: a connection is told to beat once it has written
//     nothing for Heartbeat. A peer gone without a word (its host down)
//     never acknowledges the beat: its socket's TCP_USER_TIMEOUT, the
//     longer of Heartbeat and WriteTimeout, ends it, and the poller
//     reports the hang-up (the option is tested; a peer that answers
//     nothing at all is not simulated);
//   - a fixed pool of writers (GOMAXPROCS) that run the connections that
//     have something due.
//
// Its goroutines run while it holds a connection and end with the last one,
// so a Loop at rest owns none.
//
// The transport supplies a [Task] per connection. [Conn.Wake] (news of its
// subscription, its context ending) and the Loop itself (a beat due, a
// hang-up) schedule [Task.Run], which is called by one goroutine at a time,
// never concurrently with itself, with the reasons gathered since its last
// run. Run writes with [Conn.Write]. On a shared writer Write never waits:
// what the socket does not take at once is kept, and once Run returns the
// connection gets a goroutine of its own, which writes the rest under
// WriteTimeout (a client that does not take it in time is gone) and runs
// the Task there, blocking writes allowed, until it has nothing more to
// do; then it is parked again. A slow client therefore never holds a
// shared writer. Run ends the connection with [Conn.Close], which also
// closes the socket.
//
// A connection that the poller cannot watch (not a socket with a
// descriptor: a wrapped listener's connection, say) is held the same way
// but always run on a goroutine of its own while something is due, and its
// hang-up is seen at its next write.
//
// Parking needs Linux (see [Supported]); elsewhere [Loop.Park] fails and
// the transports keep net/http's goroutine.
package park
