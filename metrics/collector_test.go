package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCollector(t *testing.T) {
	b, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 2})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	defer b.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := hub.Publish(ctx, "news", framework.Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := hub.Subscribe("news", b.Epoch()+"-0") // older than the history
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Next(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// "news" retains events 2 and 3, one byte of data each.
	var bytes int64
	for seq := uint64(2); seq <= 3; seq++ {
		bytes += int64(1+len(framework.Cursor{Epoch: b.Epoch(), Seq: seq}.String())) + framework.RecordOverhead
	}
	sse := 3
	c := metrics.NewCollector(metrics.Sources{
		Hub:    hub,
		Broker: b,
		Open: map[string]func() int{
			"sse":       func() int { return sse },
			"websocket": func() int { return 1 },
			"ignored":   nil,
		},
	})
	want := fmt.Sprintf(`
# HELP rxstream_events_delivered_total Events handed to subscribers, one per event per subscriber.
# TYPE rxstream_events_delivered_total counter
rxstream_events_delivered_total 2
# HELP rxstream_events_published_total Events published through the hub.
# TYPE rxstream_events_published_total counter
rxstream_events_published_total 3
# HELP rxstream_gaps_total Gap notices sent to subscribers whose cursor was older than the history.
# TYPE rxstream_gaps_total counter
rxstream_gaps_total 1
# HELP rxstream_open_streams Streams open now, per transport (held long-polls, SSE streams, WebSocket connections).
# TYPE rxstream_open_streams gauge
rxstream_open_streams{transport="sse"} 3
rxstream_open_streams{transport="websocket"} 1
# HELP rxstream_overflows_total Times a subscriber's queue was full when an event arrived.
# TYPE rxstream_overflows_total counter
rxstream_overflows_total 0
# HELP rxstream_publishes_paced_total Publishes that waited for their topic's subscribers to take their backlog (HubOptions.PaceBacklog).
# TYPE rxstream_publishes_paced_total counter
rxstream_publishes_paced_total 0
# HELP rxstream_retained_bytes Size of the events the broker retains over all topics, as counted against its MaxBytes.
# TYPE rxstream_retained_bytes gauge
rxstream_retained_bytes %d
# HELP rxstream_retained_events Events the broker retains over all topics.
# TYPE rxstream_retained_events gauge
rxstream_retained_events 2
# HELP rxstream_retained_topics Topics the broker keeps.
# TYPE rxstream_retained_topics gauge
rxstream_retained_topics 1
# HELP rxstream_subscribers Open hub subscriptions.
# TYPE rxstream_subscribers gauge
rxstream_subscribers 1
# HELP rxstream_topics Topics the hub follows (with at least one subscriber).
# TYPE rxstream_topics gauge
rxstream_topics 1
`, bytes)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	sse = 0
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP rxstream_open_streams Streams open now, per transport (held long-polls, SSE streams, WebSocket connections).
# TYPE rxstream_open_streams gauge
rxstream_open_streams{transport="sse"} 0
rxstream_open_streams{transport="websocket"} 1
`), "rxstream_open_streams"); err != nil {
		t.Error(err)
	}
}

func TestCollectorEmptySources(t *testing.T) {
	if n := testutil.CollectAndCount(metrics.NewCollector(metrics.Sources{})); n != 0 {
		t.Errorf("%d metrics from no sources", n)
	}
}
