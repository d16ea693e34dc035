package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embedded is a NATS server run in-process, with JetStream stored in a
// temporary folder.
type embedded struct {
	srv *server.Server
	dir string
	url string
}

func startNATS() (*embedded, error) {
	dir, err := os.MkdirTemp("", "rxstream-cluster-")
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1, // a free port
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nats server: not ready after 10s")
	}
	return &embedded{srv: srv, dir: dir, url: srv.ClientURL()}, nil
}

func (e *embedded) stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	os.RemoveAll(e.dir)
}
