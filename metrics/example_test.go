package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/metrics"
)

// A server registers one Collector and serves /metrics with promhttp.
func ExampleNewCollector() {
	broker, _ := framework.NewMemoryBroker(nil)
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer hub.Close()
	streams, _ := sse.New(nil)

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.Sources{
		Hub:    hub,
		Broker: broker,
		Open:   map[string]func() int{"sse": streams.Connections},
	}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /topics/{topic}/sse", streams.Topic(hub, adapters.Param("topic")))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "rxstream_open_streams") || strings.HasPrefix(line, "rxstream_topics") {
			fmt.Println(line)
		}
	}
	// Output:
	// rxstream_open_streams{transport="sse"} 0
	// rxstream_topics 0
}
