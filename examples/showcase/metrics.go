package main

import (
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/metrics"
)

func init() { routes = append(routes, (*app).metricsRoutes) }

// metricsRoutes serves GET /metrics in Prometheus' text format: the hub's
// counters, the retained history, each transport's open streams, and the Go
// runtime's and the process's own metrics. Each app has its own registry.
func (a *app) metricsRoutes() error {
	src := metrics.Sources{Hub: a.hub, Open: a.open.counts()}
	if b, ok := a.hub.Broker().(interface{ Stats() framework.MemoryStats }); ok {
		src.Broker = b
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(metrics.NewCollector(src)); err != nil {
		return err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	return nil
}

// openStreams collects the transport servers' Open methods by transport
// name; each route file adds its servers. The counts are read at scrape
// time, so servers added after /metrics was registered count too.
type openStreams struct {
	mu sync.Mutex
	m  map[string][]func() int
}

func (o *openStreams) add(transport string, open ...func() int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = make(map[string][]func() int)
	}
	o.m[transport] = append(o.m[transport], open...)
}

// counts returns one function per transport name known now or later ones
// among "sse", "longpoll" and "websocket"; each sums that transport's
// servers.
func (o *openStreams) counts() map[string]func() int {
	m := make(map[string]func() int)
	for _, name := range []string{"sse", "longpoll", "websocket"} {
		m[name] = func() int {
			o.mu.Lock()
			fns := o.m[name]
			o.mu.Unlock()
			n := 0
			for _, fn := range fns {
				n += fn()
			}
			return n
		}
	}
	return m
}
