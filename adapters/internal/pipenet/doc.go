// Package pipenet is an in-memory network for tests: a [net.Listener]
// whose connections are [net.Pipe] ends, and the HTTP client that dials
// it. Because nothing touches the operating system and every blocking
// operation is a channel operation, an http.Server and its clients run
// entirely inside a testing/synctest bubble, where timeouts, heartbeats,
// write deadlines and batching windows pass in fake time.
//
// Make the Listener inside the bubble that uses it (its channels belong to
// the bubble that makes them). A test starts the server with Serve, and
// before the bubble ends closes the server and the client's idle
// connections, so that every goroutine ends:
//
//	l := pipenet.Listen()
//	srv := &http.Server{Handler: e}
//	go srv.Serve(l)
//	client := l.Client()
//	defer client.CloseIdleConnections()
//	defer srv.Close()
//
// An http.Transport of the test's own dials with [Listener.Dial].
//
// Files:
//
//   - pipenet.go: [Listener], [Listen], [Listener.Dial], [Listener.Client].
package pipenet
