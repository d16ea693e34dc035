package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxstream/rxstream/framework"
)

// Sources are what a [Collector] reads at every scrape. Each field is
// optional; a nil one contributes no metric.
type Sources struct {
	// Hub gives the delivery counters and the followed topics.
	Hub *framework.Hub
	// Broker gives the retained history: a *framework.MemoryBroker, or any
	// broker with the same Stats method.
	Broker interface{ Stats() framework.MemoryStats }
	// Open maps a transport name ("sse", "longpoll", "websocket") to a
	// function returning its open streams: the adapters' Server.Open
	// method. Several servers of one transport are summed by the caller.
	Open map[string]func() int
}

// Collector is a [prometheus.Collector] of an rxstream server's state. It
// holds no state of its own: every scrape reads its [Sources], so it costs
// nothing between scrapes. Its methods may be called concurrently.
type Collector struct {
	src        Sources
	transports []string // sorted keys of src.Open

	open, published, paced, delivered, overflows, gaps,
	topics, subscribers, retainedTopics, retainedEvents, retainedBytes *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector reading src. Register it with
// prometheus.MustRegister or a prometheus.Registry.
func NewCollector(src Sources) *Collector {
	c := &Collector{src: src}
	c.src.Open = make(map[string]func() int, len(src.Open))
	for name, fn := range src.Open {
		if fn != nil {
			c.src.Open[name] = fn
			c.transports = append(c.transports, name)
		}
	}
	slices.Sort(c.transports)
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rxstream_"+name, help, labels, nil)
	}
	c.open = desc("open_streams", "Streams open now, per transport (held long-polls, SSE streams, WebSocket connections).", "transport")
	c.published = desc("events_published_total", "Events published through the hub.")
	c.paced = desc("publishes_paced_total", "Publishes that waited for their topic's subscribers to take their backlog (HubOptions.PaceBacklog).")
	c.delivered = desc("events_delivered_total", "Events handed to subscribers, one per event per subscriber.")
	c.overflows = desc("overflows_total", "Times a subscriber's queue was full when an event arrived.")
	c.gaps = desc("gaps_total", "Gap notices sent to subscribers whose cursor was older than the history.")
	c.topics = desc("topics", "Topics the hub follows (with at least one subscriber).")
	c.subscribers = desc("subscribers", "Open hub subscriptions.")
	c.retainedTopics = desc("retained_topics", "Topics the broker keeps.")
	c.retainedEvents = desc("retained_events", "Events the broker retains over all topics.")
	c.retainedBytes = desc("retained_bytes", "Size of the events the broker retains over all topics, as counted against its MaxBytes.")
	return c
}

// Describe implements [prometheus.Collector].
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if len(c.transports) > 0 {
		ch <- c.open
	}
	if c.src.Hub != nil {
		for _, d := range []*prometheus.Desc{c.published, c.paced, c.delivered, c.overflows, c.gaps, c.topics, c.subscribers} {
			ch <- d
		}
	}
	if c.src.Broker != nil {
		ch <- c.retainedTopics
		ch <- c.retainedEvents
		ch <- c.retainedBytes
	}
}

// Collect implements [prometheus.Collector].
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.transports {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(c.src.Open[name]()), name)
	}
	if h := c.src.Hub; h != nil {
		st := h.Stats()
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(st.Published))
		ch <- prometheus.MustNewConstMetric(c.paced, prometheus.CounterValue, float64(st.Paced))
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(st.Delivered))
		ch <- prometheus.MustNewConstMetric(c.overflows, prometheus.CounterValue, float64(st.Overflows))
		ch <- prometheus.MustNewConstMetric(c.gaps, prometheus.CounterValue, float64(st.Gaps))
		ch <- prometheus.MustNewConstMetric(c.topics, prometheus.GaugeValue, float64(st.Topics))
		ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, float64(st.Subscribers))
	}
	if b := c.src.Broker; b != nil {
		st := b.Stats()
		ch <- prometheus.MustNewConstMetric(c.retainedTopics, prometheus.GaugeValue, float64(st.Topics))
		ch <- prometheus.MustNewConstMetric(c.retainedEvents, prometheus.GaugeValue, float64(st.Events))
		ch <- prometheus.MustNewConstMetric(c.retainedBytes, prometheus.GaugeValue, float64(st.Bytes))
	}
}
