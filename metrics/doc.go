// Package metrics exposes an rxstream server's state to Prometheus
// (github.com/prometheus/client_golang), so that package framework and the
// adapters stay free of it.
//
// collector.go holds [Collector], a prometheus.Collector built from
// [Sources]: the Hub's counters ([framework.Hub.Stats]), the broker's
// retained history ([framework.MemoryBroker.Stats]) and each transport's
// open streams (the adapters' Server.Open methods). It reads them at scrape
// time and keeps nothing between scrapes.
//
// The metrics, all prefixed rxstream_:
//
//	open_streams{transport}   gauge    streams open now
//	events_published_total    counter  events published through the hub
//	publishes_paced_total     counter  publishes that waited for subscribers
//	events_delivered_total    counter  events handed to subscribers
//	overflows_total           counter  subscriber queues found full
//	gaps_total                counter  gap notices sent
//	topics                    gauge    topics the hub follows
//	subscribers               gauge    open hub subscriptions
//	retained_topics           gauge    topics the broker keeps
//	retained_events           gauge    events the broker retains
//	retained_bytes            gauge    their size, as counted against MaxBytes
package metrics
